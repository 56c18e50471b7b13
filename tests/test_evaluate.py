"""evaluate(): errors equal a hand computation per structure; pairs per atom equal ASE counts."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list
from fcl_toy import ToyPairModel

from pyg_fcl import CutoffSpec, data_to_atoms, read_structures
from pyg_fcl.evaluate import evaluate

MOLCRYS = Path(__file__).resolve().parents[1] / "data" / "molcrys_x23"


@pytest.fixture(scope="module")
def setup():
    frames = read_structures(MOLCRYS / "07_co2.xyz", index=":40:8")
    frames += read_structures(MOLCRYS / "11_formamide.xyz", index=":40:8")
    for k, d in enumerate(frames):
        d.subset = "A" if k % 2 else "B"
    torch.manual_seed(1)
    model = ToyPairModel(r_max=4.5, r_min=2.5)
    model.set_energy_normalization({1: -3.0, 6: -7.0, 7: -5.0, 8: -4.0}, scale=0.5)
    return model, frames


def _hand(model, frames, cutoffs):
    """Per-structure forward passes and numpy statistics (independent of evaluate's batching)."""
    rows = []
    for d, rc in zip(frames, cutoffs):
        data = copy.copy(d)
        data.cutoff = rc.to(d.pos.dtype)
        out = model(data, compute_stress=True)
        e = (float(out["energy"]) - float(d.energy)) / d.num_nodes
        f = (out["forces"].detach() - d.forces).numpy().ravel()
        has_s = bool(d.has_stress) and float(d.stress_weight) > 0
        s = (out["stress"].detach() - d.stress).numpy().ravel() if has_s else np.zeros(0)
        atoms = data_to_atoms(d)
        i, j, dist = neighbor_list("ijd", atoms, float(rc.max()) + 1e-9)
        rc_np = rc.double().numpy()
        pairs = int(np.sum(dist < 0.5 * (rc_np[i] + rc_np[j])))
        rows.append((d.subset, e, f, s, pairs, d.num_nodes))
    return rows


def _stats(rows):
    e = np.array([r[1] for r in rows])
    f = np.concatenate([r[2] for r in rows])
    s = np.concatenate([r[3] for r in rows])
    return {
        "energy_mae": np.abs(e).mean(),
        "energy_rmse": np.sqrt((e**2).mean()),
        "forces_mae": np.abs(f).mean(),
        "forces_rmse": np.sqrt((f**2).mean()),
        "stress_mae": np.abs(s).mean() if s.size else None,
        "stress_rmse": np.sqrt((s**2).mean()) if s.size else None,
        "pairs_per_atom": sum(r[4] for r in rows) / sum(r[5] for r in rows),
        "num_structures": len(rows),
        "num_atoms": sum(r[5] for r in rows),
    }


def _compare(got, want):
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("kind", ["global", "element", "atom"])
def test_evaluate_matches_hand_computation(setup, kind):
    model, frames = setup
    gen = torch.Generator().manual_seed(0)
    if kind == "global":
        cutoffs = 3.7
        per = [torch.full((d.num_nodes,), 3.7) for d in frames]
    elif kind == "element":
        table = {1: 2.6, 6: 4.1, 7: 3.3, 8: 4.5}
        cutoffs = CutoffSpec.from_elements(table)
        per = [torch.tensor([table[int(z)] for z in d.z]) for d in frames]
    else:
        per = [2.5 + 2.0 * torch.rand(d.num_nodes, generator=gen) for d in frames]
        cutoffs = per
    result = evaluate(model, frames, cutoffs, batch_size=3, device="cpu")
    rows = _hand(model, frames, per)
    _compare(result["overall"], _stats(rows))
    assert sorted(result["subsets"]) == ["A", "B"]
    for name in ("A", "B"):
        _compare(result["subsets"][name], _stats([r for r in rows if r[0] == name]))
    assert result["overall"]["stress_rmse"] is not None  # crystal frames carry stress


def test_default_cutoff_is_r_max_and_model_mode_restored(setup):
    model, frames = setup
    model.train()
    a = evaluate(model, frames[:3], None, device="cpu")
    b = evaluate(model, frames[:3], model.r_max, device="cpu")
    assert a == b and model.training


def test_evaluate_rejects_bad_cutoffs(setup):
    model, frames = setup
    with pytest.raises(ValueError, match="cutoffs for 1 structures"):
        evaluate(model, frames[:2], [torch.full((frames[0].num_nodes,), 3.0)])
    with pytest.raises(ValueError, match="atoms but"):
        evaluate(model, frames[:1], [torch.full((frames[0].num_nodes + 1,), 3.0)])
    with pytest.raises(ValueError):
        evaluate(model, frames[:1], 5.0)  # above r_max = 4.5
    with pytest.raises(ValueError, match="no structures"):
        evaluate(model, [], 3.0)
