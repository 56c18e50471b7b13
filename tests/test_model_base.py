"""FCLModel base class, autograd forces/stress and checkpoints, on a tiny real FCL model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fcl_toy import ToyPairModel

from pyg_fcl import load_model, read_structures, save_model
from pyg_fcl.checkpoint import CHECKPOINT_VERSION, model_checkpoint

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def crystal():
    # A 48-atom benzene crystal frame (periodic, triclinic-free but anisotropic cell).
    return read_structures(
        DATA / "molcrys_x23" / "06_benzene.xyz", index="10", dtype=torch.float64
    )[0]


def _model(**kw):
    torch.manual_seed(0)
    return ToyPairModel(r_max=5.0, r_min=3.0, **kw).double()


def _energy(model, data, pos=None, cell=None, cutoff=None):
    d = data.clone()
    if pos is not None:
        d.pos = pos
    if cell is not None:
        d.cell = cell
    if cutoff is not None:
        d.cutoff = cutoff
    model.graph.clear_cache(d)  # positions changed: search again
    return float(model(d)["energy"].sum().detach())


def test_forces_match_finite_differences(crystal):
    model = _model()
    gen = torch.Generator().manual_seed(1)
    cutoff = 3.0 + 2.0 * torch.rand(crystal.num_nodes, generator=gen, dtype=torch.float64)
    d = crystal.clone()
    d.cutoff = cutoff
    forces = model(d)["forces"].detach()
    h = 1e-5
    for atom, k in [(0, 0), (7, 1), (30, 2), (47, 0)]:
        plus, minus = crystal.pos.clone(), crystal.pos.clone()
        plus[atom, k] += h
        minus[atom, k] -= h
        fd = -(
            _energy(model, crystal, plus, cutoff=cutoff)
            - _energy(model, crystal, minus, cutoff=cutoff)
        ) / (2 * h)
        assert forces[atom, k].item() == pytest.approx(fd, abs=1e-6, rel=1e-6)


def test_stress_matches_strain_finite_differences(crystal):
    model = _model()
    d = crystal.clone()
    stress = model(d, compute_stress=True)["stress"][0].detach()
    volume = abs(float(torch.linalg.det(crystal.cell[0])))
    h = 1e-5
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2)]:
        values = []
        for sign in (1, -1):
            eps = torch.zeros(3, 3, dtype=torch.float64)
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            deform = torch.eye(3, dtype=torch.float64) + eps
            values.append(_energy(model, crystal, crystal.pos @ deform, crystal.cell @ deform))
        fd = (values[0] - values[1]) / (2 * h) / volume
        assert stress[a, b].item() == pytest.approx(fd, abs=1e-7, rel=1e-5)
    assert torch.allclose(stress, stress.T, atol=1e-12)


def test_non_periodic_structure_has_zero_stress_and_conserved_momentum(crystal):
    model = _model()
    d = crystal.clone()
    d.pbc = torch.zeros(1, 3, dtype=torch.bool)
    d.cell = torch.zeros(1, 3, 3, dtype=torch.float64)
    out = model(d, compute_stress=True)
    assert torch.equal(out["stress"], torch.zeros(1, 3, 3, dtype=torch.float64))
    assert out["forces"].sum(0).abs().max() < 1e-10  # Newton's third law


def test_pruned_equals_envelope_only(crystal):
    model = _model()
    gen = torch.Generator().manual_seed(2)
    d = crystal.clone()
    d.cutoff = 3.0 + 2.0 * torch.rand(d.num_nodes, generator=gen, dtype=torch.float64)
    pruned = model(d.clone())
    full = model(d.clone(), prune=False)
    assert full["energy"].item() == pytest.approx(pruned["energy"].item(), abs=1e-12)
    assert torch.allclose(full["forces"], pruned["forces"], atol=1e-12)


def test_prepare_rejects_unknown_elements_and_bad_cutoffs(crystal):
    model = ToyPairModel(r_max=5.0, elements=(1, 6)).double()
    d = crystal.clone()
    d.z = d.z.clone()
    d.z[3] = 26
    with pytest.raises(ValueError, match=r"\[26\]"):
        model(d)
    d = crystal.clone()
    d.cutoff = torch.full((d.num_nodes,), 5.5, dtype=torch.float64)
    with pytest.raises(ValueError, match="5.5"):
        model(d)
    with pytest.raises(ValueError, match="r_min"):
        ToyPairModel(r_max=4.0, r_min=5.0)
    with pytest.raises(ValueError, match="atomic numbers"):
        ToyPairModel(elements=(0, 1))


def test_energy_normalization(crystal):
    model = _model()
    base = model(crystal.clone())["energy"].item()
    model.set_energy_normalization(atomic_energies={1: -1.5, 6: -2.0}, shift=0.25)
    counts = {z: int((crystal.z == z).sum()) for z in (1, 6)}
    expected = base - 1.5 * counts[1] - 2.0 * counts[6] + 0.25 * crystal.num_nodes
    assert model(crystal.clone())["energy"].item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="element 26"):
        model.set_energy_normalization(atomic_energies={26: 0.0})
    with pytest.raises(ValueError, match="scale"):
        model.set_energy_normalization(scale=0.0)


def test_checkpoint_round_trip(tmp_path, crystal):
    model = _model(edge_rule="receiver", hidden=8)
    model.set_energy_normalization(atomic_energies={1: -0.5}, scale=2.0)
    path = tmp_path / "model.pt"
    save_model(model, path, meta={"note": "unit test"})
    loaded = load_model(path)
    assert loaded.energy_scale.dtype == torch.float64  # saved in float64, loaded in float64
    assert isinstance(loaded, ToyPairModel)
    assert loaded.config() == model.config()
    assert loaded.checkpoint_meta == {"note": "unit test"}
    a, b = model(crystal.clone()), loaded(crystal.clone())
    assert torch.allclose(a["energy"], b["energy"], atol=1e-12)
    assert torch.allclose(a["forces"], b["forces"], atol=1e-12)
    raw = torch.load(path, weights_only=True)  # no pickled module inside
    assert raw["version"] == CHECKPOINT_VERSION and raw["edge_rule"] == "receiver"


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")
    torch.save({"weights": np.arange(3).tolist()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pyg-fcl model checkpoint"):
        load_model(tmp_path / "other.pt")
    ckpt = model_checkpoint(_model())
    ckpt["version"] = CHECKPOINT_VERSION + 1
    torch.save(ckpt, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="newer"):
        load_model(tmp_path / "future.pt")
    ckpt = model_checkpoint(_model())
    ckpt["class"] = "torch.nn:Linear"
    torch.save(ckpt, tmp_path / "linear.pt")
    with pytest.raises(ValueError, match="not an FCLModel"):
        load_model(tmp_path / "linear.pt")


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    model = _model()
    save_model(model, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left


def test_checkpoint_file_mode_follows_umask(tmp_path):
    import os

    path = tmp_path / "model.pt"
    save_model(_model(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_create_graph_only_where_something_needs_it(crystal):
    """The template keeps the force graph for training and cutoff gradients, not for inference;
    an explicit create_graph wins; under no_grad the outputs are detached."""
    model = _model()
    model.eval()
    assert not model(crystal.clone())["forces"].requires_grad  # inference
    assert model(crystal.clone(), create_graph=True)["forces"].requires_grad  # explicit
    model.train()
    out = model(crystal.clone())  # training on forces: differentiable in the parameters
    (grad,) = torch.autograd.grad(out["forces"].square().sum(), [model.mlp[0].weight])
    assert bool(grad.abs().sum() > 0)
    assert not model(crystal.clone(), create_graph=False)["forces"].requires_grad
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    d = crystal.clone()
    d.cutoff = torch.full((d.num_nodes,), 4.0, dtype=torch.float64, requires_grad=True)
    out = model(d)  # cutoff optimization: forces differentiable in the cutoffs
    (grad,) = torch.autograd.grad(out["forces"].square().sum(), [d.cutoff])
    assert grad.shape == (d.num_nodes,) and bool(torch.isfinite(grad).all())
    with torch.no_grad():
        out = model(crystal.clone(), compute_stress=True)
    assert not any(v.requires_grad for v in out.values())
    assert out["forces"].abs().sum() > 0  # forces still computed by autograd inside


def test_backbone_must_return_one_energy_per_atom(crystal):
    model = _model()
    model.node_energy = lambda graph: graph.edge_length  # [E], not [N]
    with pytest.raises(ValueError, match=r"node_energy must return \[num_nodes\]"):
        model(crystal.clone())
