"""PyG's SchNet and ViSNet made cutoff-flexible: the graph they see against ASE, periodic
supercells, no torch-cluster, checkpoints, pretrained weights, cutoff gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list
from torch_geometric.data import Batch
from torch_geometric.nn.models import SchNet

from pyg_fcl import atoms_to_data, data_to_atoms, load_model, read_structures, save_model
from pyg_fcl.nn.adapters import FlexibleSchNet, FlexibleViSNet
from pyg_fcl.optim import CutoffOptimizer
from pyg_fcl.testing import run_all_checks
from pyg_fcl.train import TrainConfig, Trainer

DATA = Path(__file__).resolve().parents[2] / "data" / "molcrys_x23"
DTYPE = torch.float64
R_MIN, R_MAX = 2.5, 4.5
ELEMENTS = (1, 6, 7, 8)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def crystals():
    """CO2 (12 atoms, cubic 5.7 Å) and formamide (24 atoms, a 3.7 Å axis: with r_max = 4.5 Å
    atoms see their own periodic images)."""
    co2 = read_structures(DATA / "07_co2.xyz", index="10", dtype=DTYPE)[0]
    formamide = read_structures(DATA / "11_formamide.xyz", index="10", dtype=DTYPE)[0]
    return [co2, formamide]


def make_model(kind: str, **kwargs):
    torch.manual_seed(0)
    common = dict(r_max=R_MAX, r_min=R_MIN, elements=ELEMENTS, **kwargs)
    if kind == "schnet":
        model = FlexibleSchNet(
            hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=12, **common
        )
    else:
        model = FlexibleViSNet(hidden_channels=16, num_layers=2, num_heads=2, num_rbf=8, **common)
    model = model.to(DTYPE)
    emb = model.flex.cutoff_embedding
    if emb is not None:  # starts at zero; make the cutoff dependence visible to the tests
        torch.nn.init.normal_(emb.mlp[2].weight, std=0.3)
    return model


def with_cutoffs(data, seed: int):
    d = data.clone()
    g = torch.Generator().manual_seed(seed)
    d.cutoff = R_MIN + (R_MAX - R_MIN) * torch.rand(d.num_nodes, generator=g, dtype=DTYPE)
    return d


KINDS = ["schnet", "visnet"]


@pytest.mark.parametrize("kind", KINDS)
def test_passes_the_physics_checks(kind, crystals):
    """Every pyg_fcl.testing check (invariances, 2x2x2 supercell, finite-difference forces,
    stress and cutoff gradients, smoothness across a cutoff, pruned == envelope-only, batching)
    with random per-atom cutoffs on periodic crystals, in float64."""
    ran = run_all_checks(make_model(kind), crystals, cutoffs="random", seed=0)
    assert {name for _, name in ran} >= {"smooth_at_edge_cutoff", "pruning_exact", "forces_fd"}


class NoEnvelope(torch.nn.Module):
    def forward(self, r, rc):
        return torch.ones_like(r)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("check", ["smooth_at_edge_cutoff", "smooth_in_cutoff", "pruning_exact"])
def test_without_the_envelope_the_same_backbone_fails(kind, check, crystals):
    """Control: the envelope on the messages is what makes the PyG model smooth and prunable."""
    model = make_model(kind)
    model.flex.envelope = NoEnvelope()
    with pytest.raises(AssertionError, match=check):
        run_all_checks(model, crystals[:1], checks=[check])


def captured_edges(model, kind, data):
    """(i, j, r_ij, unit vector) of the edges the backbone's first message-passing layer gets."""
    seen = {}
    if kind == "schnet":
        layer = model.flex.backbone.interactions[0].conv

        def hook(module, args):
            seen.update(edge_index=args[1], r=args[2])
    else:
        layer = model.flex.backbone.representation_model.vis_mp_layers[0]

        def hook(module, args):
            seen.update(edge_index=args[2], r=args[3], unit=args[5])

    handle = layer.register_forward_pre_hook(hook)
    try:
        model(data)
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_backbone_sees_the_periodic_fcl_graph(kind, crystals):
    """What the PyG layers receive equals ASE's periodic neighbour list cut at each edge's
    cutoff (mean rule): distances, and for ViSNet the unit vectors, from periodic images."""
    model = make_model(kind)
    for k, crystal in enumerate(crystals):
        data = with_cutoffs(crystal, seed=k)
        seen = captured_edges(model, kind, data)
        atoms = data_to_atoms(crystal)
        i, j, d, vec = neighbor_list("ijdD", atoms, R_MAX)
        rc = data.cutoff.numpy()
        keep = d < 0.5 * (rc[i] + rc[j])
        ref = sorted(zip(i[keep], j[keep], np.round(d[keep], 9)))
        ei, r = seen["edge_index"].numpy(), seen["r"].detach().numpy()
        if kind == "visnet":  # PyG's ViSNet also passes one self-loop (length 0) per atom
            loops = r == 0
            assert sorted(ei[0, loops]) == sorted(ei[1, loops]) == list(range(data.num_nodes))
            ei, r, seen["unit"] = ei[:, ~loops], r[~loops], seen["unit"][torch.from_numpy(~loops)]
        got = sorted(zip(ei[1], ei[0], np.round(r, 9)))
        assert got == ref
        assert int(np.sum(i[keep] == j[keep])) > 0 or k == 0  # formamide: own images
        if kind == "visnet":
            key = lambda a, b, v: (a, b, *np.round(v, 7))  # noqa: E731
            unit = seen["unit"].detach().numpy()
            ref_u = sorted(
                key(a, b, v / n) for a, b, v, n in zip(i[keep], j[keep], vec[keep], d[keep])
            )
            got_u = sorted(key(a, b, u) for a, b, u in zip(ei[1], ei[0], unit))
            assert got_u == ref_u


@pytest.mark.parametrize("kind", KINDS)
def test_supercell_energy_is_extensive(kind, crystals):
    """A 2x1x1 supercell (own periodic images become distinct atoms) has twice the energy."""
    model = make_model(kind)
    atoms = data_to_atoms(crystals[1])
    cell = atoms_to_data(atoms, dtype=DTYPE)
    supercell = atoms_to_data(atoms.repeat((2, 1, 1)), dtype=DTYPE)
    e1, e2 = model(cell), model(supercell)
    assert torch.allclose(2 * e1["energy"], e2["energy"], rtol=1e-10, atol=1e-10)
    n = cell.num_nodes
    assert torch.allclose(e2["forces"][:n], e1["forces"], atol=1e-10)
    assert torch.allclose(e2["forces"][n:], e1["forces"], atol=1e-10)


def test_no_torch_cluster_radius_graph_is_called(monkeypatch, crystals):
    import torch_geometric.nn.models.schnet as schnet_module
    import torch_geometric.nn.models.visnet as visnet_module

    def forbidden(*args, **kwargs):
        raise AssertionError("PyG's radius_graph (torch-cluster) must not be called")

    monkeypatch.setattr(schnet_module, "radius_graph", forbidden)
    monkeypatch.setattr(visnet_module, "radius_graph", forbidden)
    batch = Batch.from_data_list([with_cutoffs(c, seed=3) for c in crystals])
    for kind in KINDS:
        out = make_model(kind)(batch.clone(), compute_stress=True)
        assert out["energy"].shape == (2,) and out["stress"].shape == (2, 3, 3)
        assert torch.allclose(
            out["energy"], torch.zeros(2, dtype=DTYPE).index_add(0, batch.batch, out["node_energy"])
        )


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip(kind, crystals, tmp_path):
    model = make_model(kind, edge_rule="min")
    model.set_energy_normalization({1: -1.0, 6: -2.0, 7: -3.0, 8: -4.0}, scale=2.0, shift=0.1)
    data = with_cutoffs(crystals[1], seed=5)
    path = tmp_path / f"{kind}.pt"
    save_model(model, path)
    loaded = load_model(path).to(DTYPE)  # load_model builds in the default dtype
    assert type(loaded) is type(model) and loaded.config() == model.config()
    a, b = model(data.clone(), compute_stress=True), loaded(data.clone(), compute_stress=True)
    for key in ("energy", "node_energy", "forces", "stress"):
        assert torch.allclose(a[key], b[key], atol=1e-12), key


def test_schnet_from_pyg_keeps_weights_and_normalization():
    """A pretrained-style SchNet (mean, std, atomref) gives the same energies once wrapped,
    when the envelope is switched off (u = 1) and both see the same graph."""
    torch.manual_seed(0)
    atomref = torch.zeros(100, 1)
    atomref[[1, 6, 8]] = torch.tensor([[-0.5], [-37.8], [-75.0]])
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(5, 3, generator=g, dtype=DTYPE)
    z = torch.tensor([8, 1, 1, 6, 1])

    def all_pairs(p, batch):
        n = p.size(0)
        j, i = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="xy")
        ei = torch.stack([j[i != j], i[i != j]])
        return ei, (p[ei[0]] - p[ei[1]]).norm(dim=-1)

    ref = SchNet(
        16, 16, 2, 12, cutoff=6.0, interaction_graph=all_pairs, mean=0.3, std=1.7, atomref=atomref
    ).to(DTYPE)
    model = FlexibleSchNet.from_pyg(ref, elements=(1, 6, 8), r_max=6.0, cutoff_embedding=False)
    model.flex.envelope = NoEnvelope()
    data = atoms_to_data(data_to_atoms_like(z, pos), dtype=DTYPE)
    assert torch.allclose(model(data)["energy"], ref(z, pos).reshape(-1), atol=1e-10)
    with pytest.raises(ValueError, match="energy SchNet"):
        FlexibleSchNet.from_pyg(SchNet(8, 8, 1, 8, dipole=True), elements=(1,))


def data_to_atoms_like(z, pos):
    from ase import Atoms

    return Atoms(numbers=z.numpy(), positions=pos.numpy())


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_cutoffs(kind, crystals):
    """The cutoff optimizer differentiates energy and forces with respect to per-atom cutoffs."""
    model = make_model(kind)
    data = with_cutoffs(crystals[0], seed=7)
    data.cutoff.requires_grad_(True)
    model.training = True  # forces with create_graph, as CutoffOptimizer does (eval submodules)
    out = model(data)
    (dE,) = torch.autograd.grad(out["energy"].sum(), data.cutoff, retain_graph=True)
    (dF,) = torch.autograd.grad(out["forces"].abs().sum(), data.cutoff)
    assert dE.abs().sum() > 0 and dF.abs().sum() > 0
    model.train(False)


def test_elements_must_fit_the_embedding():
    with pytest.raises(ValueError, match=r"elements \[100\] do not fit"):
        FlexibleSchNet(r_max=4.0, elements=(1, 100))


def test_visnet_from_pyg_reproduces_the_pyg_model():
    """PyG's ViSNet (its own graph: all pairs plus self-loops, from a brute-force module) and
    the wrapped copy agree when the envelope is switched off."""
    from torch_geometric.nn.models import ViSNet

    class AllPairsWithLoops(torch.nn.Module):
        def forward(self, pos, batch):
            n = pos.size(0)
            j, i = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="xy")
            ei = torch.stack([j.reshape(-1), i.reshape(-1)])
            vec = pos[ei[0]] - pos[ei[1]]
            return ei, vec.norm(dim=-1), vec

    torch.manual_seed(0)
    atomref = torch.zeros(100)
    atomref[[1, 6, 8]] = torch.tensor([-0.5, -37.8, -75.0])
    ref = ViSNet(
        lmax=2,
        num_heads=2,
        num_layers=2,
        hidden_channels=16,
        num_rbf=8,
        cutoff=6.0,
        atomref=atomref,
        std=1.7,
    ).to(DTYPE)
    model = FlexibleViSNet.from_pyg(ref, elements=(1, 6, 8), cutoff_embedding=False)
    model.flex.envelope = NoEnvelope()
    ref.representation_model.distance = AllPairsWithLoops()
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(5, 3, generator=g, dtype=DTYPE)
    z = torch.tensor([8, 1, 1, 6, 1])
    data = atoms_to_data(data_to_atoms_like(z, pos), dtype=DTYPE)
    energy, _ = ref(z, pos, torch.zeros(5, dtype=torch.long))
    assert torch.allclose(model(data)["energy"], energy.reshape(-1), atol=1e-10)
    with pytest.raises(ValueError, match="energy ViSNet"):
        FlexibleViSNet.from_pyg(
            ViSNet(num_layers=1, hidden_channels=8, num_heads=2, mean=1.0), elements=(1,)
        )


def test_fcl_training_lowers_force_error_and_cutoffs_optimize():
    """A few epochs of FCL training (random per-atom cutoffs) of the wrapped SchNet on CO2
    crystal frames lower the validation force error at two global cutoffs; CutoffOptimizer then
    moves the per-element cutoffs down and cuts the pairs per atom."""
    frames = read_structures(DATA / "07_co2.xyz", index="10:60")
    train, val = frames[:40], frames[40:]
    torch.manual_seed(0)
    model = FlexibleSchNet(
        r_max=R_MAX,
        r_min=R_MIN,
        elements=(6, 8),
        hidden_channels=16,
        num_filters=16,
        num_interactions=2,
        num_gaussians=16,
    )
    config = TrainConfig(
        epochs=6, batch_size=4, lr=5e-3, progress=False, device="cpu", val_cutoffs=[4.5, 3.5]
    )
    trainer = Trainer(model, train, val, config)
    before = trainer.validate()
    after = trainer.fit()[-1]["val"]
    for cutoff in ("4.5", "3.5"):
        rmse0 = before[cutoff]["overall"]["forces_rmse"]
        rmse1 = after[cutoff]["overall"]["forces_rmse"]
        assert rmse1 < 0.6 * rmse0, (cutoff, rmse0, rmse1)

    model = trainer.deploy_model()
    optimizer = CutoffOptimizer(model, val, per="element", epochs=3, batch_size=5, init=4.0)
    result = optimizer.optimize(0.1)
    assert all(R_MIN <= v < 4.0 for v in result.values)
    assert (
        optimizer.evaluate(result.spec)["pairs_per_atom"]
        < optimizer.evaluate(4.0)["pairs_per_atom"]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_ase_calculator_runs_the_wrapped_model(kind, crystals):
    """FCLCalculator (per-element cutoffs, neighbour list reused across moves) gives what the
    model gives on a freshly built structure."""
    from pyg_fcl.calculator import FCLCalculator

    model = make_model(kind)
    cutoffs = {"H": 3.0, "C": 4.2, "N": 3.6, "O": 4.5}
    atoms = data_to_atoms(crystals[1])
    atoms.calc = FCLCalculator(model, cutoffs=cutoffs, skin=0.5)
    rng = np.random.default_rng(0)
    for _ in range(2):
        atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
        forces = atoms.get_forces()
    assert atoms.calc.stats["builds"] == 1
    data = atoms_to_data(atoms, dtype=DTYPE)
    data.cutoff = torch.tensor([cutoffs[s] for s in atoms.get_chemical_symbols()], dtype=DTYPE)
    out = model(data, compute_stress=True)
    assert atoms.get_potential_energy() == pytest.approx(float(out["energy"].detach()), abs=1e-10)
    assert np.allclose(forces, out["forces"].detach().numpy(), atol=1e-10)
    assert np.allclose(atoms.get_stress(voigt=False), out["stress"][0].detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("cls, name", [(FlexibleSchNet, "SchNet"), (FlexibleViSNet, "ViSNet")])
def test_backbone_cutoff_below_r_max_is_refused(cls, name):
    with pytest.raises(ValueError, match=rf"backbone_cutoff=4.0 < r_max=5.0: {name}'s cosine"):
        cls(r_max=5.0, elements=[1, 6], backbone_cutoff=4.0)
    assert cls(r_max=5.0, elements=[1, 6], backbone_cutoff=6.0).backbone_cutoff == 6.0
