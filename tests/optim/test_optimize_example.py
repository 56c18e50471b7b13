"""examples/optimize_cutoffs.py runs end to end on a tiny model and small data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from fcl_toy import ToyPairModel

from pyg_fcl.checkpoint import save_model
from pyg_fcl.data import load_cutoffs

ROOT = Path(__file__).resolve().parents[2]


def test_optimize_cutoffs_example(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("ex", ROOT / "examples" / "optimize_cutoffs.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    torch.manual_seed(0)
    ckpt = tmp_path / "toy.pt"
    save_model(ToyPairModel(r_max=5.0, r_min=2.5, elements=(6, 8)), ckpt)
    data = ROOT / "data" / "molcrys_x23" / "07_co2.xyz"
    args = ["--model", str(ckpt), "--data", str(data), "--index", "70:76:2"]
    args += ["--eval-index", "71:76:2", "--lambdas", "1e-2", "--epochs", "1", "--md-steps", "2"]
    assert example.main([*args, "--out-dir", str(tmp_path / "out")]) == 0
    front = json.loads((tmp_path / "out" / "front.json").read_text())
    assert len(front["points"]) == 1 and len(front["global_scan"]) == 5
    assert load_cutoffs(tmp_path / "out" / "cutoffs_1e-02.json").kind == "element"
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 0
    assert "measured MD speedup" in capsys.readouterr().out
