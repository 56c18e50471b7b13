"""A 2-process gloo DDP run (launched with torchrun) equals the single-process run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from train_helpers import tiny_structures, toy_model
from train_worker import config

from pyg_fcl.train import Trainer

WORKER = Path(__file__).with_name("train_worker.py")


def test_ddp_two_processes_match_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYG_FCL_DIST_TIMEOUT": "60"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp" / "params.pt")

    structures = tiny_structures()
    single = Trainer(toy_model(), structures[:10], structures[10:], config(tmp_path / "one"))
    history = single.fit()
    assert single.global_step == 2 * 3  # 10 structures, global batch 4: 3 steps per epoch
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-5, atol=1e-6, msg=name)
    # the DDP run moved the weights (not trivially equal to the initial model)
    init = toy_model().state_dict()
    assert not torch.allclose(ddp["mlp.0.weight"], init["mlp.0.weight"])
    # rank 0 wrote the same validation metrics
    ddp_ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    last = ddp_ckpt["training_state"]["history"][-1]["val"]
    ref = history[-1]["val"]
    for cutoff in ref:
        for key in ("energy_rmse", "forces_rmse", "pairs_per_atom"):
            a, b = last[cutoff]["overall"][key], ref[cutoff]["overall"][key]
            assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (cutoff, key, a, b)
