"""The speed benchmarks of the graph core run, and their built-in consistency checks hold.

benchmarks/neighbors.py aborts when a backend's edges differ from vesin's, when sorted tensors
differ between backends, or when prune_edges keeps other edges than the library's pruning;
benchmarks/fcl_step.py times static and FCL training steps of one model; model_step.py places
per-atom cutoffs against the global-cutoff line. Tiny sizes: seconds, not timings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fcl_step  # noqa: E402
import neighbors as nl_bench  # noqa: E402

from pyg_fcl.neighbors import available_backends  # noqa: E402


def test_neighbors_benchmark_checks_hold_on_a_small_supercell():
    args = argparse.Namespace(
        cutoff=4.0, r_min=2.5, repeats=1, max_brute=1000, max_ase=1000, no_ase=False,
        dtype="float64", device="cpu",
    )  # fmt: skip
    base = nl_bench.crystal_frame(nl_bench.DATA / "07_co2.xyz")
    atoms, _ = nl_bench.supercell(base, 100)
    row = nl_bench.bench_size(atoms, args, available_backends())
    assert row["pairs"] > 0 and {"vesin_direct", "auto_sorted", "ase"} <= set(row["times"])
    assert 0 < row["prune"]["edges_kept"] < row["pairs"]
    assert all(t["wall"] >= 0 and t["cpu"] >= 0 for t in row["times"].values())


def test_fcl_step_benchmark_runs_both_layouts():
    result = fcl_step.main(
        ["--crystals", "07_co2", "04_ammonia", "--frames", "2", "--batches", "1", "--steps", "1",
         "--warmup", "0", "--channels", "8", "--l-max", "1", "--hidden-l-max", "0",
         "--correlation", "2", "--layers", "1", "--threads", "1", "--compare-single-block"]
    )  # fmt: skip
    kinds = result["kinds"]
    assert set(kinds) == {"static", "fcl", "single-block static", "single-block fcl"}
    assert 0 < result["pair_ratio"] < 1  # per-atom cutoffs keep fewer pairs than r_max
    for name in ("static", "fcl"):  # same pairs in both layouts, fewer slots with buckets
        assert kinds[name]["pairs_per_atom"] == kinds[f"single-block {name}"]["pairs_per_atom"]
        assert kinds[name]["slots_filled"] >= kinds[f"single-block {name}"]["slots_filled"]
        assert 0 < kinds[name]["slots_filled"] <= 1


def test_fcl_step_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        fcl_step._parse(["--help"])
    assert "Examples:" in capsys.readouterr().out
