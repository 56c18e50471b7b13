"""Resume continues the same run; an interrupted save or a killed process leaves a loadable
checkpoint; the NaN guard stops with the step and structures and keeps the last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import toy_model
from train_worker import config

import pyg_fcl.checkpoint as checkpoint
from pyg_fcl import load_model
from pyg_fcl.train import NonFiniteLossError, Trainer

WORKER = Path(__file__).with_name("train_worker.py")


def _state(path):
    return torch.load(path, weights_only=True)


def test_resume_equals_uninterrupted_run(structures, tmp_path):
    train, val = structures[:10], structures[10:]
    full = Trainer(toy_model(), train, val, config(tmp_path / "full", epochs=3))
    full.fit()
    # stop mid-epoch (step 4 of 9: epoch 1, step 1), then resume from last.pt with a new model
    part = Trainer(toy_model(), train, val, config(tmp_path / "part", epochs=3, max_steps=4))
    part.fit()
    assert part.global_step == 4 and part.step_in_epoch == 1
    resumed = Trainer(
        toy_model(seed=99),
        train,
        val,
        config(tmp_path / "part", epochs=3),
        resume_from=tmp_path / "part" / "last.pt",
    )
    assert resumed.global_step == 4
    resumed.fit()
    a, b = _state(tmp_path / "full" / "last.pt"), _state(tmp_path / "part" / "last.pt")
    for key in ("raw_state_dict",):
        for name, value in a["training_state"][key].items():
            assert torch.equal(value, b["training_state"][key][name]), name
    for name, value in a["state_dict"].items():  # EMA (deployed) weights
        assert torch.equal(value, b["state_dict"][name]), name
    assert a["training_state"]["global_step"] == b["training_state"]["global_step"] == 9
    full_val = a["training_state"]["history"][-1]["val"]
    assert full_val == b["training_state"]["history"][-1]["val"]
    # changing what decides the data order is refused
    with pytest.raises(ValueError, match="seed"):
        Trainer(
            toy_model(), train, val, config(None, seed=4), resume_from=tmp_path / "full" / "last.pt"
        )


def test_interrupted_save_keeps_previous_checkpoint(structures, tmp_path, monkeypatch):
    trainer = Trainer(toy_model(), structures, config=config(tmp_path, epochs=1))
    trainer.fit()
    before = (tmp_path / "last.pt").read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial garbage")
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save("last.pt")
    monkeypatch.undo()
    assert (tmp_path / "last.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
    model = load_model(tmp_path / "last.pt")
    assert model.r_min == 3.0 and model.r_max == 4.5


def test_killed_process_leaves_loadable_checkpoint(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        str(WORKER),
        str(tmp_path),
        "--epochs",
        "1000",
        "--checkpoint-every",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            ckpt = tmp_path / "last.pt"
            if (
                ckpt.exists()
                and checkpoint.read_checkpoint(ckpt)["training_state"]["global_step"] >= 3
            ):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.3)  # land somewhere inside the next steps/saves
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = load_model(tmp_path / "last.pt")
    state = checkpoint.read_checkpoint(tmp_path / "last.pt")["training_state"]
    assert state["global_step"] >= 3
    assert set(model.state_dict()) == set(state["raw_state_dict"])
    # and the run can be resumed from it
    resumed = Trainer(
        toy_model(), *_split(), config(tmp_path, epochs=1000), resume_from=tmp_path / "last.pt"
    )
    assert resumed.global_step == state["global_step"]


def _split():
    from train_helpers import tiny_structures

    s = tiny_structures()
    return s[:10], s[10:]


def test_nan_guard_names_step_and_structure(structures, tmp_path):
    train = list(structures[:10])
    Trainer(toy_model(), train, config=config(tmp_path, epochs=1)).fit()
    before = (tmp_path / "last.pt").read_bytes()
    poisoned = train[3].clone()
    poisoned.forces[0, 0] = float("nan")
    train[3] = poisoned
    trainer = Trainer(
        toy_model(), train, config=config(tmp_path, epochs=2), resume_from=tmp_path / "last.pt"
    )
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit()
    message = str(err.value)
    where = f"{Path(poisoned.source).name}:{int(poisoned.frame)}"
    assert "non-finite loss at epoch 1" in message
    assert "with non-finite inputs/labels" in message and where in message.split("labels:")[1]
    assert "last good checkpoint" in message
    assert (tmp_path / "last.pt").read_bytes() == before
