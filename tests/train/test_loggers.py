"""TensorBoard and W&B loggers: step loss and learning rate every step, every validation error
per validation cutoff, the same numbers as metrics.json."""

from __future__ import annotations

import sys
import types

import pytest
from train_helpers import toy_model
from train_worker import config

from pyg_fcl.train import TrainConfig, Trainer
from pyg_fcl.train.loggers import MetricLoggers, validation_scalars


def test_tensorboard_gets_steps_and_validation_errors(structures, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    cfg = config(tmp_path, epochs=2, loggers=["csv", "tensorboard"], val_cutoffs=[4.5, 3.5])
    trainer = Trainer(toy_model(), structures[:10], structures[10:], cfg)
    history = trainer.fit()
    runs = list((tmp_path / "tensorboard").iterdir())
    acc = event_accumulator.EventAccumulator(str(runs[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    steps = acc.Scalars("train/step_loss")
    assert [s.step for s in steps] == list(range(1, trainer.global_step + 1))
    assert len(acc.Scalars("train/lr")) == trainer.global_step
    for cutoff in ("4.5", "3.5"):
        tag = f"val@{cutoff}/overall/forces_rmse"
        assert tag in tags
        logged = [(s.step, s.value) for s in acc.Scalars(tag)]
        expected = [(r["global_step"], r["val"][cutoff]["overall"]["forces_rmse"]) for r in history]
        assert [s for s, _ in logged] == [s for s, _ in expected]
        for (_, a), (_, b) in zip(logged, expected):
            assert a == pytest.approx(b, rel=1e-6)
    assert "train/forces_loss" in tags and "score" in tags


def test_wandb_logger_with_a_fake_module(structures, tmp_path, monkeypatch):
    calls = {"init": [], "log": [], "finish": 0}

    class Run:
        def log(self, values, step):
            calls["log"].append((step, dict(values)))

        def finish(self):
            calls["finish"] += 1

    def init(**kwargs):
        calls["init"].append(kwargs)
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    cfg = config(tmp_path / "wb", epochs=1, loggers=["wandb"], log_every=2)
    trainer = Trainer(toy_model(), structures[:10], structures[10:], cfg)
    history = trainer.fit()
    assert calls["init"][0]["config"]["loggers"] == ["wandb"] and calls["finish"] == 1
    step_logs = [s for s, v in calls["log"] if "train/step_loss" in v]
    assert step_logs == [2]  # 3 steps, every 2nd
    val = [v for s, v in calls["log"] if "score" in v][-1]
    assert val == validation_scalars(history[-1])
    assert val["val@4.5/overall/forces_rmse"] == history[-1]["val"]["4.5"]["overall"]["forces_rmse"]


def test_unknown_or_missing_loggers_are_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="loggers \\['tensorbored'\\] unknown"):
        TrainConfig(loggers=["tensorbored"])
    with pytest.raises(ValueError, match="need an out_dir"):
        MetricLoggers(["tensorboard"], None, {})
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ValueError, match="pip install wandb"):
        MetricLoggers(["wandb"], tmp_path, {})
    assert MetricLoggers(["csv"], None, {}).backends == []
