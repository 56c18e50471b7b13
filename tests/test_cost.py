"""DifferentiableCostModel: exact counts vs ASE brute force, gradcheck, time-model fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read
from ase.neighborlist import neighbor_list
from fcl_toy import ToyPairModel

from pyg_fcl.cost import DifferentiableCostModel, fit_time_model
from pyg_fcl.data import atoms_to_data

DATA = Path(__file__).resolve().parents[1] / "data" / "molcrys_x23"
R_MAX = 5.0


@pytest.fixture(scope="module")
def crystal():
    atoms = read(DATA / "07_co2.xyz", index=70)  # 12-atom periodic CO2 crystal
    return atoms, atoms_to_data(atoms, dtype=torch.float64)


def _ase_count(atoms, cutoff: np.ndarray, rule: str) -> int:
    i, j, d = neighbor_list("ijd", atoms, R_MAX)
    rc = {
        "mean": 0.5 * (cutoff[i] + cutoff[j]),
        "receiver": cutoff[i],
        "min": np.minimum(cutoff[i], cutoff[j]),
    }[rule]
    return int((d < rc).sum())


@pytest.mark.parametrize("rule", ["mean", "receiver", "min"])
def test_exact_pairs_equal_ase_brute_force(crystal, rule):
    atoms, data = crystal
    rng = np.random.default_rng(1)
    cutoff = rng.uniform(2.5, R_MAX, len(atoms))
    cost = DifferentiableCostModel(R_MAX, edge_rule=rule)
    expected = _ase_count(atoms, cutoff, rule)
    assert expected > 0
    assert cost.exact_edges(data, torch.tensor(cutoff)) == expected
    assert cost.exact_pairs(data, torch.tensor(cutoff)) == pytest.approx(expected / len(atoms))


def test_smooth_count_tends_to_exact_and_rc3(crystal):
    atoms, data = crystal
    cutoff = torch.full((len(atoms),), 4.0, dtype=torch.float64)
    i, j, d = neighbor_list("ijd", atoms, R_MAX)
    # no pair within 1e-2 Å of 4 Å, so a 1e-4 Å sigmoid is a step there
    assert np.abs(d - 4.0).min() > 1e-2
    sharp = DifferentiableCostModel(R_MAX, tau=1e-4)
    assert float(sharp.smooth_pairs(data, cutoff)) == pytest.approx((d < 4.0).sum() / len(atoms))
    assert float(sharp.rc3(cutoff)) == pytest.approx(64.0)


def test_smooth_pairs_gradcheck(crystal):
    _, data = crystal
    rng = np.random.default_rng(2)
    cutoff = torch.tensor(rng.uniform(3.0, 4.8, data.num_nodes), requires_grad=True)
    cost = DifferentiableCostModel(R_MAX, tau=0.2)
    assert torch.autograd.gradcheck(lambda c: cost.smooth_pairs(data, c), (cutoff,))
    for rule in ("receiver", "geometric"):
        other = DifferentiableCostModel(R_MAX, edge_rule=rule, tau=0.2)
        assert torch.autograd.gradcheck(lambda c, o=other: o.smooth_pairs(data, c), (cutoff,))
    assert torch.autograd.gradcheck(lambda c: cost.rc3(c), (cutoff,))


def test_fit_time_model_recovers_known_coefficients():
    rng = np.random.default_rng(3)
    a, b, c = 2e-3, 5e-5, 3e-6
    samples = []
    for n in (12, 48, 96):
        for e in rng.integers(100, 5000, size=4):
            samples.append({"num_atoms": n, "num_edges": int(e), "seconds": a + b * n + c * e})
    fit = fit_time_model(samples)
    assert (fit.a, fit.b, fit.c) == pytest.approx((a, b, c), rel=1e-6)
    assert fit.r2 == pytest.approx(1.0) and fit.rank == 3
    assert fit.predict(10, 1000) == pytest.approx(a + 10 * b + 1000 * c)


def test_calibrate_times_toy_model_and_time_cost_is_differentiable(crystal):
    atoms, data = crystal
    torch.manual_seed(0)
    model = ToyPairModel(r_max=R_MAX, r_min=2.5, elements=(6, 8)).double()
    big = atoms_to_data(atoms.repeat((2, 1, 1)), dtype=torch.float64)
    cost = DifferentiableCostModel(R_MAX, kind="time")
    with pytest.raises(ValueError, match="calibrat"):
        cost(data, torch.full((12,), 4.0, dtype=torch.float64))
    fit = cost.calibrate(model, [data, big], [3.0, 4.0, 5.0], repeats=2)
    assert len(fit.samples) == 6 and np.isfinite(fit.r2)
    for s in fit.samples:  # edge counts are the exact pruned counts
        source = atoms if s["num_atoms"] == 12 else atoms.repeat((2, 1, 1))
        expected = _ase_count(source, np.full(s["num_atoms"], s["setting"]), "mean")
        assert s["num_edges"] == expected
    cutoff = torch.full((12,), 4.0, dtype=torch.float64, requires_grad=True)
    value = cost(data, cutoff)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(cutoff.grad).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="kind"):
        DifferentiableCostModel(R_MAX, kind="flops")
    with pytest.raises(ValueError, match="tau"):
        DifferentiableCostModel(R_MAX, tau=0.0)
    with pytest.raises(ValueError, match="edge rule"):
        DifferentiableCostModel(R_MAX, edge_rule="median")
