"""A few optimizer steps lower the loss, in FCL and SCL mode; the r_max search is cached."""

from __future__ import annotations

import pytest
import torch
from train_helpers import toy_model

from pyg_fcl.evaluate import evaluate
from pyg_fcl.train import TrainConfig, Trainer


def _loss(model, structures, cutoff):
    m = evaluate(model, structures, cutoff, batch_size=6, device="cpu")["overall"]
    return m["energy_rmse"] ** 2 + m["forces_rmse"] ** 2


@pytest.mark.parametrize("fixed", [None, 4.0])
def test_steps_lower_training_loss(structures, fixed):
    model = toy_model()
    cfg = TrainConfig(
        fixed_cutoff=fixed,
        epochs=6,
        batch_size=4,
        lr=1e-2,
        ema_decay=None,
        progress=False,
        forces_weight=1.0,
        device="cpu",
        scheduler="constant",
    )
    trainer = Trainer(model, structures, config=cfg)
    probe = 4.0 if fixed else 3.5  # FCL: a cutoff inside the range other than r_max
    before = _loss(model, structures, probe)
    history = trainer.fit()
    after = _loss(model, structures, probe)
    assert len(history) == 6 and trainer.global_step == 6 * trainer.steps_per_epoch
    assert after < 0.9 * before
    # one neighbour search per structure for the whole run (cache reused across epochs)
    assert trainer.train_set.num_searches == len(structures)
    assert model.r_min == (3.0 if fixed is None else model.r_min)


def test_uncached_graphs_give_the_same_run(structures):
    runs = []
    for keep in (True, False):
        cfg = TrainConfig(epochs=2, batch_size=4, progress=False, cache_graphs=keep)
        trainer = Trainer(toy_model(), structures, config=cfg)
        trainer.fit()
        runs.append((trainer.model.state_dict(), trainer.train_set.num_searches))
    (cached, n_cached), (fresh, n_fresh) = runs
    assert n_cached == len(structures) and n_fresh == 2 * len(structures)
    for name, value in cached.items():
        assert torch.equal(value, fresh[name]), name


def test_fcl_draws_new_cutoffs_per_step_and_scl_fixed(structures):
    model = toy_model()
    fcl = Trainer(model, structures, config=TrainConfig(progress=False, device="cpu"))
    a = fcl.assigner(fcl.train_set[0], epoch=0, index=0).cutoff
    b = fcl.assigner(fcl.train_set[0], epoch=1, index=0).cutoff
    again = fcl.assigner(fcl.train_set[0], epoch=0, index=0).cutoff
    assert a.shape == (structures[0].num_nodes,)
    assert not torch.equal(a, b) and torch.equal(a, again)
    assert float(a.min()) >= 3.0 and float(a.max()) <= 4.5
    scl = Trainer(model, structures, config=TrainConfig(fixed_cutoff=4.0, progress=False))
    assert torch.all(scl.assigner(scl.train_set[0], 0, 0).cutoff == 4.0)


def test_fcl_needs_a_range_and_cutoffs_within_r_max(structures):
    model = toy_model(r_min=None)  # fixed-cutoff model, r_min == r_max
    with pytest.raises(ValueError, match="r_min < r_max"):
        Trainer(model, structures, config=TrainConfig(progress=False))
    with pytest.raises(ValueError, match="exceeds the model's r_max"):
        Trainer(model, structures, config=TrainConfig(fixed_cutoff=6.0, progress=False))
    trainer = Trainer(model, structures, config=TrainConfig(r_min=2.5, progress=False))
    assert model.r_min == 2.5 and trainer.r_max == 4.5
