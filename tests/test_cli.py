"""The ``pyg-fcl`` command line: help texts and the ``graph`` subcommand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
from ase.neighborlist import neighbor_list

from pyg_fcl.cli import build_parser, main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_top_level_help_lists_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "graph" in out


def test_every_subcommand_has_help_with_examples(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "graph" in sub.choices
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "example" in capsys.readouterr().out.lower(), name


def test_graph_counts_match_ase(tmp_path):
    path = DATA / "molcrys_x23" / "06_benzene.xyz"
    out = tmp_path / "graph.json"
    assert (
        main(
            [
                "graph",
                str(path),
                "--frame",
                "10",
                "--r-max",
                "5",
                "--cutoffs",
                "3",
                "4.5",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    table = json.loads(out.read_text())
    atoms = ase.io.read(path, index=10)
    for row, cutoff in zip(table["rows"], (3.0, 4.5)):
        assert row["edges"] == len(neighbor_list("i", atoms, cutoff))
    assert table["rows"][-1]["setting"].startswith("per-atom")


def test_graph_reports_bad_cutoff_cleanly(capsys):
    path = DATA / "molcrys_x23" / "06_benzene.xyz"
    assert main(["graph", str(path), "--r-max", "4", "--cutoffs", "5"]) == 1
    assert "(0, r_max=4.0]" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    res = subprocess.run(
        [sys.executable, "-m", "pyg_fcl", "--help"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and "pyg-fcl" in res.stdout
