"""Masked losses against a hand computation; least-squares reference energies recover known
per-element energies; EMA warm-up arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from pyg_fcl.train import (
    ExponentialMovingAverage,
    combine_loss,
    fit_energy_normalization,
    loss_terms,
)


def _frame(z, energy, forces, has_e=True, has_f=True, stress=None, weight=1.0):
    n = len(z)
    return Data(
        z=torch.tensor(z),
        pos=torch.zeros(n, 3),
        energy=torch.tensor([energy]),
        forces=torch.as_tensor(forces, dtype=torch.float32).reshape(n, 3),
        stress=torch.zeros(1, 3, 3) if stress is None else stress.reshape(1, 3, 3),
        has_energy=torch.tensor([has_e]),
        has_forces=torch.tensor([has_f]),
        has_stress=torch.tensor([stress is not None]),
        stress_weight=torch.tensor([weight if stress is not None else 0.0]),
    )


def test_masked_loss_terms_match_hand_computation():
    s_ref = torch.arange(9.0).reshape(3, 3) / 10
    frames = [
        _frame([1, 8], -10.0, torch.ones(2, 3), stress=s_ref, weight=0.5),
        _frame([6], -5.0, torch.full((1, 3), float("nan")), has_f=False),  # no force label
        _frame([1, 1, 8], float("nan"), torch.zeros(3, 3), has_e=False),  # no energy label
    ]
    batch = Batch.from_data_list(frames)
    out = {
        "energy": torch.tensor([-9.0, -5.5, 3.0]),
        "forces": torch.full((6, 3), 0.5),
        "stress": torch.zeros(3, 3, 3),
    }
    sums, counts = loss_terms(out, batch, "mse", stress=True)
    e = [(-9.0 + 10.0) / 2, (-5.5 + 5.0) / 1]
    assert sums[0] == pytest.approx(sum(x**2 for x in e))
    assert counts[0] == 2
    f = [(0.5 - 1.0) ** 2] * 6 + [0.5**2] * 9
    assert sums[1] == pytest.approx(sum(f)) and counts[1] == 15
    assert sums[2] == pytest.approx(0.5 * float((s_ref**2).sum())) and counts[2] == pytest.approx(
        4.5
    )
    loss = combine_loss(sums, counts, torch.tensor([1.0, 10.0, 2.0]))
    want = sum(x**2 for x in e) / 2 + 10 * sum(f) / 15 + 2 * 0.5 * float((s_ref**2).sum()) / 4.5
    assert float(loss) == pytest.approx(want)
    l1, _ = loss_terms(out, batch, "l1", stress=False)
    assert l1[0] == pytest.approx(sum(abs(x) for x in e)) and l1[2] == 0


def test_reference_energies_recover_known_values():
    e0 = {1: -13.6, 6: -1030.0, 8: -2040.0}
    gen = torch.Generator().manual_seed(0)
    frames = []
    for _ in range(12):
        z = torch.tensor([1, 6, 8])[
            torch.randint(0, 3, (int(torch.randint(2, 9, (1,), generator=gen)),), generator=gen)
        ]
        energy = sum(e0[int(v)] for v in z) + 0.01 * float(torch.randn(1, generator=gen))
        forces = torch.randn(len(z), 3, generator=gen) * 2.0
        frames.append(_frame(z.tolist(), energy, forces))
    norm = fit_energy_normalization(frames, [1, 6, 7, 8])
    for z, value in e0.items():
        assert norm.atomic_energies[z] == pytest.approx(value, abs=0.05)
    energies = torch.tensor([float(f.energy) for f in frames])
    atoms = sum(f.num_nodes for f in frames)
    assert norm.atomic_energies[7] == pytest.approx(float(energies.sum()) / atoms)  # absent
    all_f = torch.cat([f.forces for f in frames])
    assert norm.scale == pytest.approx(float(all_f.square().mean().sqrt()), rel=1e-5)
    assert abs(norm.shift) < 0.01
    with pytest.raises(ValueError, match="elements \\[8\\] not in"):
        fit_energy_normalization(frames, [1, 6])


def test_ema_warmup_and_swap():
    model = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.weight, 0.0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay min(0.9, 1/10) = 0.1 -> 0.9
    assert float(ema.shadow["weight"]) == pytest.approx(0.9)
    ema.update(model)  # decay min(0.9, 2/11) -> 0.9 * 2/11 + 9/11
    assert float(ema.shadow["weight"]) == pytest.approx(0.9 * 2 / 11 + 9 / 11)
    with ema.average_parameters(model):
        assert float(model.weight) == pytest.approx(float(ema.shadow["weight"]))
    assert float(model.weight) == 1.0
