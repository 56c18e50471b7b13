"""The quickstart shown in the docs runs as written."""

import runpy
from pathlib import Path


def test_quickstart_runs(capsys):
    path = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "pairs per atom" in out and "ASE energy" in out
