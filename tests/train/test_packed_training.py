"""Training from a packed (on-disk) dataset equals training from the same structures in memory:
single process (bit for bit), 2 DDP processes (torchrun, and srun faked through SLURM's
variables, each rank reading only its share of every batch), and a killed-then-resumed run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ase.io import write
from train_helpers import tiny_structures, toy_model
from train_worker import config

import pyg_fcl.checkpoint as checkpoint
from pyg_fcl import data_to_atoms, read_structures
from pyg_fcl.data import PackedDataset, pack_structures
from pyg_fcl.train import Trainer
from pyg_fcl.train.batches import epoch_batches

WORKER = Path(__file__).with_name("packed_worker.py")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny training structures as extxyz and packed (one with stored r_max graphs)."""
    folder = tmp_path_factory.mktemp("packed")
    xyz = folder / "tiny.xyz"
    write(xyz, [data_to_atoms(d) for d in tiny_structures()], format="extxyz")
    packed = folder / "tiny.h5"
    pack_structures([xyz], packed, progress=False)
    graphs = folder / "tiny_graphs.h5"
    pack_structures([xyz], graphs, graph_r_max=4.5, progress=False)
    return {"xyz": xyz, "h5": packed, "graphs": graphs}


def _params(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _fit(train, val, out, **kwargs):
    trainer = Trainer(toy_model(), train, val, config(out, **kwargs))
    trainer.fit()
    return trainer


def test_packed_single_process_equals_in_memory_bit_for_bit(files, tmp_path):
    memory = read_structures(files["xyz"])
    ref = _fit(memory[:10], memory[10:], tmp_path / "mem")
    for name in ("h5", "graphs"):
        packed = PackedDataset(files[name])
        run = _fit(packed[:10], packed[10:], tmp_path / name)
        assert run.history[-1]["val"] == ref.history[-1]["val"], name
        for key, value in _params(ref).items():
            assert torch.equal(_params(run)[key], value), (name, key)
    # the graph-storing file trained without a single neighbour search
    assert run.train_set.num_searches == 0
    assert ref.train_set.num_searches == 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_"))}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYG_FCL_DIST_TIMEOUT"] = "60"  # a lost rank fails the run in a minute, not 30
    return env


def _check_ddp_result(out: Path, reference: dict) -> None:
    ddp = torch.load(out / "params.pt")
    for name, value in reference.items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-5, atol=1e-6, msg=name)
    # each rank read exactly its share of every global batch, nothing else
    for rank in (0, 1):
        log = json.loads((out / f"reads_{rank}.json").read_text())
        assert log["world"] == 2
        expected = [
            i
            for epoch in range(2)
            for batch in epoch_batches(10, 4, 3, epoch, rank, 2)  # seed 3: train_worker.config
            for i in batch
        ]
        # (in any order: the next batch is read in a background thread during a step)
        assert sorted(log["reads"]) == sorted(expected), rank


@pytest.fixture(scope="module")
def in_memory_params(files, tmp_path_factory):
    memory = read_structures(files["xyz"])
    return _params(_fit(memory[:10], memory[10:], tmp_path_factory.mktemp("ref")))


def test_packed_ddp_torchrun_equals_in_memory(files, tmp_path, in_memory_params):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(out),
        "--data",
        str(files["h5"]),
        "--log-reads",
    ]
    proc = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    _check_ddp_result(out, in_memory_params)


def test_packed_ddp_under_faked_srun_equals_in_memory(files, tmp_path, in_memory_params):
    """Two plain processes with only SLURM's variables (as srun sets them), no torchrun."""
    out = tmp_path / "srun"
    port = _free_port()
    procs, logs = [], []
    for rank in (0, 1):
        env = _clean_env()
        env.update(
            SLURM_JOB_ID="4242",
            SLURM_PROCID=str(rank),
            SLURM_LOCALID=str(rank),
            SLURM_NTASKS="2",
            SLURM_STEP_NUM_TASKS="2",
            SLURM_STEP_NODELIST="127.0.0.[1-2]",  # first host: 127.0.0.1
            MASTER_PORT=str(port),
        )
        cmd = [sys.executable, str(WORKER), str(out), "--data", str(files["h5"]), "--log-reads"]
        # output to files, not pipes: a rank blocked on a full pipe that nobody reads would
        # hang the other rank in its next collective
        logs.append(tmp_path / f"rank{rank}.log")
        with open(logs[-1], "w") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [proc.wait(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    report = "\n".join(f"--- rank {r} ---\n{logs[r].read_text()[-3000:]}" for r in (0, 1))
    assert codes == [0, 0], report
    _check_ddp_result(out, in_memory_params)


def test_killed_packed_run_resumes_exactly(files, tmp_path):
    """SIGKILL a training process reading the packed file, resume it: same weights as a run
    that was never interrupted (bit for bit)."""
    out = tmp_path / "killed"
    cmd = [sys.executable, str(WORKER), str(out), "--data", str(files["h5"]), "--epochs", "1000"]
    cmd += ["--checkpoint-every", "1"]
    proc = subprocess.Popen(
        cmd, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            ckpt = out / "last.pt"
            if (
                ckpt.exists()
                and checkpoint.read_checkpoint(ckpt)["training_state"]["global_step"] >= 4
            ):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    step = checkpoint.read_checkpoint(out / "last.pt")["training_state"]["global_step"]
    stop = step + 5
    packed = PackedDataset(files["h5"])
    resumed = Trainer(
        toy_model(seed=7),
        packed[:10],
        packed[10:],
        config(out, epochs=1000, max_steps=stop),
        resume_from=out / "last.pt",
    )
    assert resumed.global_step == step
    resumed.fit()
    memory = read_structures(files["xyz"])
    full = _fit(memory[:10], memory[10:], tmp_path / "full", epochs=1000, max_steps=stop)
    assert resumed.global_step == full.global_step == stop
    for key, value in _params(full).items():
        assert torch.equal(_params(resumed)[key], value), key
