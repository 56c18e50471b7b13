"""benchmarks/data_scale.py on a tiny budget: rattled copies keep the labels, both modes train
and report, the table compares them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import data_scale as bench  # noqa: E402

from pyg_fcl.data import pack_structures  # noqa: E402


def test_data_scale_tiny(tmp_path):
    xyz = bench.make_dataset(tmp_path, base=3, scale=2, rattle=0.02, seed=0)
    frames = read(xyz, index=":")
    assert len(frames) == 6
    for a, b in zip(frames[:3], frames[3:]):  # copies: same labels, moved atoms
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())
        shift = np.abs(a.positions - b.positions).max()
        assert 0 < shift < 0.2
    packed = tmp_path / "graphs.h5"
    pack_structures([xyz], packed, graph_r_max=4.0, progress=False)
    args = dict(steps=1, warmup=1, channels=4, seed=0, r_max=4.0)
    rows = []
    for mode, data in (("memory", xyz), ("disk", packed)):
        out = bench.child(argparse.Namespace(child=mode, data=str(data), **args))
        assert out["frames"] == 6 and out["steps_per_s"] > 0 and out["peak_rss_mb"] > 0
        assert out["searches"] == (6 if mode == "memory" else 0)  # disk: stored graphs
        rows.append({**out, "scale": 2, "file_mb": 0.1, "pack_s": None})
    table = bench.markdown(
        {
            "rows": rows,
            "machine": {
                "platform": "x",
                "cpu_count": 2,
                "python": "3",
                "load_average_start": [1.0],
                "load_average_end": [1.0],
            },
        }
    )
    assert "| 2x | 6 | disk |" in table and "vs in-memory" in table
