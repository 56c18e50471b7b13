"""``TrainConfig.lr_scale``: per-prefix learning rates, frozen parameters, and clear errors."""

from __future__ import annotations

import pytest
import torch
from train_helpers import toy_model

from pyg_fcl.train import TrainConfig, Trainer
from pyg_fcl.train.param_groups import scaled_param_groups


def _run(structures, lr_scale, steps=3):
    model = toy_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = TrainConfig(
        epochs=1, max_steps=steps, batch_size=4, lr=1e-2, progress=False, ema_decay=0.9,
        scheduler="constant", lr_scale=lr_scale,
    )  # fmt: skip
    trainer = Trainer(model, structures, config=cfg)
    trainer.fit()
    return model, before, trainer


def test_factor_zero_freezes_exactly_and_the_rest_trains(structures):
    model, before, trainer = _run(structures, {"mlp.0.": 0.0})
    frozen = {n for n in before if n.startswith("mlp.0.")}
    assert frozen, "the toy model has an mlp.0 layer"
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param, before[name]), name  # EMA weights are the frozen ones too
            assert not param.requires_grad
        else:
            assert not torch.equal(param, before[name]), name
    in_optimizer = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert all(id(p) not in in_optimizer for n, p in model.named_parameters() if n in frozen)


def test_groups_get_scaled_rates_and_the_longest_prefix_wins():
    model = toy_model()
    groups = scaled_param_groups(model, 1e-3, {"mlp.": 0.1, "mlp.2.": 0.5})
    by_scale = {g["lr_scale"]: g for g in groups}
    assert groups[0]["lr_scale"] == 1.0  # the unscaled group first: the rate the logs report
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in by_scale[0.5]["params"]} == {"mlp.2.weight", "mlp.2.bias"}
    assert {names[id(p)] for p in by_scale[0.1]["params"]} == {"mlp.0.weight", "mlp.0.bias"}
    assert {names[id(p)] for p in by_scale[1.0]["params"]} == {"embed.weight"}
    assert by_scale[0.1]["lr"] == pytest.approx(1e-4) and by_scale[0.5]["lr"] == 5e-4
    # the schedule scales every group: a LambdaLR keeps each group's ratio
    opt = torch.optim.AdamW(groups, lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [0.5 * g["initial_lr"] for g in opt.param_groups]
    )
    del sched


def test_bad_lr_scale_is_named():
    with pytest.raises(ValueError, match=r"\['mpl.'\] match no trainable parameter"):
        scaled_param_groups(toy_model(), 1e-3, {"mpl.": 0.0})
    model = toy_model()
    with pytest.raises(ValueError, match="nothing left to train"):
        scaled_param_groups(model, 1e-3, {"": 0.0})
    with pytest.raises(ValueError, match="match no trainable parameter"):
        scaled_param_groups(model, 1e-3, {"mlp.": 0.0, "mpl.": 0.5})
    assert all(p.requires_grad for p in model.parameters())  # refused settings freeze nothing
    with pytest.raises(ValueError, match=r"lr_scale\['mlp.'\] must be finite and >= 0"):
        TrainConfig(lr_scale={"mlp.": -1})
    with pytest.raises(ValueError, match="must be a"):
        TrainConfig(lr_scale=[("mlp.", 0.1)])


def test_lr_scale_round_trips_through_the_config_dict():
    cfg = TrainConfig(lr_scale={"mlp.0.": 0.25})
    assert TrainConfig.from_dict(cfg.to_dict()).lr_scale == {"mlp.0.": 0.25}
