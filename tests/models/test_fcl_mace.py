"""FCL-MACE: its building blocks against independent references, and the whole model against
every physics check of pyg_fcl.testing on shipped periodic structures (float64, random per-atom
cutoffs)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
from e3nn import o3
from torch_geometric.data import Data

from pyg_fcl import load_model, read_structures, save_model
from pyg_fcl import testing as ft
from pyg_fcl_models import FCLMACE, SymmetricContraction, symmetric_coupling_basis
from pyg_fcl_models.convolution import ChannelwiseConvolution, Neighborhood

DATA = Path(__file__).resolve().parents[2] / "data"
SMALL = dict(
    r_max=4.5,
    r_min=2.5,
    num_channels=8,
    l_max=2,
    hidden_l_max=1,
    correlation=3,
    num_interactions=2,
    num_bessel=6,
    num_cutoff_basis=4,
    radial_mlp=(16, 16),
    cutoff_embedding_hidden=8,
    readout_hidden=8,
    avg_num_neighbors=20.0,
)


def _sh_irreps(l_max: int) -> o3.Irreps:
    return o3.Irreps([(1, (l, (-1) ** l)) for l in range(l_max + 1)])


def _wigner_d(irreps: o3.Irreps, rot: torch.Tensor) -> torch.Tensor:
    """Block-diagonal representation of an orthogonal ``rot``, fitted from e3nn's spherical
    harmonics (exact polynomials) at random points: ``Y(R x) = D Y(x)``. Float64-exact, unlike
    e3nn's ``D_from_matrix`` (float32 tables: ~1e-7)."""
    det = torch.linalg.det(rot)
    proper = rot * det
    x = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    blocks = []
    for mul, ir in irreps:
        y = o3.spherical_harmonics(ir.l, x, normalize=True)
        d = torch.linalg.lstsq(y, o3.spherical_harmonics(ir.l, x @ proper.T, normalize=True))
        block = d.solution.T * (ir.p if det < 0 else 1)
        blocks += [block] * mul
    return torch.block_diag(*blocks)


# ---------------------------------------------------------------- coupling basis
def _character_multiplicity(l_max: int, big_l: int, parity: int, nu: int) -> int:
    """Multiplicity of ``(L, parity)`` in ``Sym^nu(0e + 1o + ... + l_max)`` by O(3) characters."""
    theta = (torch.arange(20000, dtype=torch.float64) + 0.5) * math.pi / 20000

    def chi_l(l, t):
        return torch.sin((2 * l + 1) * t / 2) / torch.sin(t / 2)

    def chi_v(t, s):  # s = +1 proper rotation, -1 rotation times inversion
        return sum((s**l) * chi_l(l, t) for l in range(l_max + 1))

    total = 0.0
    for s in (1, -1):
        c1, c2, c3 = chi_v(theta, s), chi_v(2 * theta, 1), chi_v(3 * theta, s)
        sym = {1: c1, 2: (c1**2 + c2) / 2, 3: (c1**3 + 3 * c2 * c1 + 2 * c3) / 6}[nu]
        target = (parity if s == -1 else 1) * chi_l(big_l, theta)
        total += float(((1 - torch.cos(theta)) / math.pi * sym * target).mean() * math.pi) / 2
    return round(total)


@pytest.mark.parametrize(
    "l_max,big_l,parity,nu",
    [(2, 0, 1, 1), (2, 1, -1, 2), (2, 0, 1, 3), (2, 1, -1, 3), (3, 0, 1, 3), (2, 1, 1, 3)],
)
def test_coupling_basis_is_complete_symmetric_orthonormal_equivariant(l_max, big_l, parity, nu):
    basis = symmetric_coupling_basis(l_max, big_l, parity, nu)
    assert basis.shape[0] == _character_multiplicity(l_max, big_l, parity, nu)
    flat = basis.reshape(basis.shape[0], -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(basis.shape[0], dtype=torch.float64))
    for perm in itertools.permutations(range(nu)):
        torch.testing.assert_close(basis.permute(0, 1, *(2 + p for p in perm)), basis)
    rot = -o3.rand_matrix(dtype=torch.float64)  # improper: tests parity too
    d_in = _wigner_d(_sh_irreps(l_max), rot)
    d_out = _wigner_d(o3.Irreps([(1, (big_l, parity))]), rot)
    rotated = torch.einsum("mn,kn...->km...", d_out, basis)
    moved = basis
    for axis in range(nu):
        moved = torch.movedim(torch.tensordot(moved, d_in, dims=([2 + axis], [0])), -1, 2 + axis)
    torch.testing.assert_close(rotated, moved)


# ---------------------------------------------------------------- symmetric contraction
def test_symmetric_contraction_matches_dense_polynomial_and_is_equivariant():
    torch.manual_seed(0)
    c, l_max, irreps_out = 3, 2, o3.Irreps("3x0e + 3x1o")
    module = SymmetricContraction(c, l_max, irreps_out, correlation=3, num_elements=2).double()
    elements = torch.tensor([0, 0, 1, 1, 1])
    a = torch.randn(5, c, (l_max + 1) ** 2, dtype=torch.float64)
    out = module(a, torch.split(a, [2, 3]), [0, 1])
    # dense reference: B_M = sum_nu sum_k W[z, k, c] U_k[M, i1..inu] A_i1 ... A_inu
    expected = []
    for offset, (_, ir) in enumerate(irreps_out):
        b = torch.zeros(5, c, ir.dim, dtype=torch.float64)
        for nu in (1, 2, 3):
            u = symmetric_coupling_basis(l_max, ir.l, ir.p, nu)
            w = module.weights[(nu - 1) * len(irreps_out) + offset]
            for n, ch in itertools.product(range(5), range(c)):
                poly = u
                for _ in range(nu):
                    poly = poly @ a[n, ch]
                b[n, ch] += (w[elements[n], :, ch, None] * poly).sum(0)
        expected.append(b.reshape(5, -1))
    torch.testing.assert_close(out, torch.cat(expected, dim=1))
    rot = -o3.rand_matrix(dtype=torch.float64)
    a_rot = a @ _wigner_d(_sh_irreps(l_max), rot).T
    out_rot = module(a_rot, torch.split(a_rot, [2, 3]), [0, 1])
    torch.testing.assert_close(out_rot, out @ _wigner_d(irreps_out, rot).T)


# ---------------------------------------------------------------- convolution
def test_channelwise_convolution_matches_edgewise_reference():
    torch.manual_seed(1)
    c, l_max = 4, 2
    irreps_node = o3.Irreps("4x0e + 4x1o")
    irreps_target = o3.Irreps("4x0e + 4x1o + 4x2e")
    conv = ChannelwiseConvolution(irreps_node, l_max, irreps_target).double()
    num_nodes, num_edges = 6, 17
    sender = torch.randint(0, num_nodes, (num_edges,))
    receiver = torch.randint(0, num_nodes - 1, (num_edges,))  # the last node has no edges
    h = torch.randn(num_nodes, irreps_node.dim, dtype=torch.float64)
    vec = torch.randn(num_edges, 3, dtype=torch.float64)
    sh = o3.spherical_harmonics(_sh_irreps(l_max), vec, normalize=True, normalization="component")
    w = torch.randn(num_edges, conv.weight_numel, dtype=torch.float64)
    nbr = Neighborhood.from_edges(sender, receiver, num_nodes)
    out = conv(h, nbr.pad(sh), nbr.pad(w), nbr)
    # reference: per-edge messages C_p(w h_j x Y_ij) summed with index_add, then the same mix
    xs = [x.reshape(num_nodes, c, -1) for x in torch.split(h, [4, 12], dim=1)]
    per_l3 = {0: [], 1: [], 2: []}
    for p, (a, l2, l3) in enumerate(conv.paths):
        l1 = irreps_node[a].ir.l
        cg = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
        y = sh[:, l2 * l2 : (l2 + 1) ** 2]
        msg = torch.einsum("ec,ecx,ey,xyz->ecz", w[:, p * c : (p + 1) * c], xs[a][sender], y, cg)
        per_l3[l3].append(
            torch.zeros(num_nodes, c, 2 * l3 + 1, dtype=torch.float64).index_add(0, receiver, msg)
        )
    expected = torch.cat(
        [
            torch.einsum("nkm,kc->ncm", torch.cat(per_l3[l3], 1), mix) / math.sqrt(mix.shape[0])
            for l3, mix in zip(conv.out_ls, conv.mix)
        ],
        dim=2,
    )
    torch.testing.assert_close(out, expected)
    assert float(out[-1].detach().abs().max()) == 0.0


# ---------------------------------------------------------------- the model
def _structures():
    x23 = [
        read_structures(DATA / "molcrys_x23" / f"{name}.xyz", index="10:11")[0]
        for name in ("04_ammonia", "07_co2")
    ]
    mad = read_structures(DATA / "mad_sample" / "test.xyz")
    return x23 + [mad[21], mad[71], mad[43]]  # CdF2, N2Pt (rattled), a 6-element random cell


@pytest.fixture(scope="module")
def structures():
    return _structures()


@pytest.fixture(scope="module")
def model(structures):
    torch.manual_seed(0)
    elements = sorted({int(z) for s in structures for z in s.z})
    return FCLMACE(elements=elements, dtype="float64", **SMALL).eval()


@pytest.mark.parametrize("index", range(5))
def test_model_passes_every_physics_check(model, structures, index):
    ran = ft.run_all_checks(model, [structures[index]], seed=index)
    assert [name for _, name in ran] == list(ft.ALL_CHECKS)  # all periodic: nothing skipped


def test_model_batch_of_x23_and_mad_is_consistent(model, structures):
    ft.run_all_checks(model, structures, checks=["batch"], seed=4)


def test_receiver_edge_rule_is_smooth_and_exact(structures):
    torch.manual_seed(2)
    model = FCLMACE(elements=[1, 7], dtype="float64", edge_rule="receiver", **SMALL).eval()
    checks = ["smooth_at_edge_cutoff", "smooth_in_cutoff", "pruning_exact", "forces_fd"]
    ft.run_all_checks(model, [structures[0]], checks=checks, seed=5)


def test_save_load_round_trip(structures, tmp_path):
    torch.manual_seed(4)
    model = FCLMACE(elements=[1, 7], dtype="float64", **SMALL).eval()
    model.set_energy_normalization({1: -13.6, 7: -1.5}, scale=0.7, shift=0.1)
    path = tmp_path / "fcl_mace.pt"
    save_model(model, path)
    loaded = load_model(path)
    assert type(loaded) is FCLMACE and loaded.config() == model.config()
    data = structures[0].clone()
    data.cutoff = ft.random_cutoffs(model, data.num_nodes, seed=6)
    a, b = model(data, compute_stress=True), loaded(data, compute_stress=True)
    for key in ("energy", "node_energy", "forces", "stress"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_float32_agrees_with_float64(model, structures):
    single = FCLMACE(**{**model.config(), "dtype": "float32"})
    single.load_state_dict(model.state_dict())
    data = structures[2].clone()
    data.cutoff = ft.random_cutoffs(model, data.num_nodes, seed=7)
    a, b = single.eval()(data, compute_stress=True), model(data, compute_stress=True)
    assert a["energy"].dtype == torch.float32 and a["forces"].dtype == torch.float32
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(a[key].double(), b[key], rtol=1e-4, atol=1e-4)


def test_isolated_atom_energy_follows_its_own_cutoff(model):
    data = Data(z=torch.tensor([7]), pos=torch.zeros(1, 3, dtype=torch.float64))
    energies = []
    for cutoff in (2.5, 3.5, 4.5):
        data.cutoff = torch.tensor([cutoff], dtype=torch.float64)
        energies.append(float(model(data)["energy"]))
    assert len({round(e, 12) for e in energies}) == 3  # the cutoff embedding is felt


def test_training_mode_keeps_graph_for_force_loss(structures):
    torch.manual_seed(3)
    model = FCLMACE(elements=[1, 7], dtype="float64", **SMALL).train()
    data = structures[0].clone()
    data.cutoff = ft.random_cutoffs(model, data.num_nodes, seed=8)
    out = model(data)
    (out["forces"].pow(2).sum() + out["energy"].sum()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert sum(float(g.abs().sum()) > 0 for g in grads) >= len(grads) - 1


def test_invalid_arguments_and_unknown_elements(structures):
    with pytest.raises(ValueError, match="dtype"):
        FCLMACE(elements=[1], dtype="float16")
    with pytest.raises(ValueError, match="elements"):
        FCLMACE(elements=[])
    with pytest.raises(ValueError, match="hidden_l_max"):
        FCLMACE(elements=[1], l_max=1, hidden_l_max=2)
    model = FCLMACE(elements=[1], **SMALL)
    with pytest.raises(ValueError, match=r"elements \[7\]"):
        model(structures[0])


# ---------------------------------------------------------------- cutoff-aware normalisation
def test_cutoff_normalization_passes_physics_checks(structures):
    torch.manual_seed(9)
    elements = sorted({int(z) for z in structures[1].z})
    model = FCLMACE(
        elements=elements, dtype="float64", neighbor_normalization="cutoff", **SMALL
    ).eval()
    checks = ["smooth_in_cutoff", "cutoff_gradients_fd", "forces_fd", "rotation", "pruning_exact"]
    ft.run_all_checks(model, [structures[1]], checks=checks, seed=9)


def test_cutoff_normalization_is_rmax_normalization_with_the_count_at_that_cutoff(structures):
    """At one global cutoff r_c, dividing each neighbour sum by avg_nn * (r_c / r_max)^3 is the
    plain model built with that smaller avg_num_neighbors (same weights); at r_max the two
    normalisations are the same model."""
    torch.manual_seed(10)
    elements = sorted({int(z) for z in structures[0].z})
    flex = FCLMACE(elements=elements, dtype="float64", neighbor_normalization="cutoff", **SMALL)
    data = structures[0].clone()
    for r_c in (SMALL["r_max"], 3.0):
        plain = FCLMACE(
            elements=elements,
            dtype="float64",
            **{**SMALL, "avg_num_neighbors": SMALL["avg_num_neighbors"] * (r_c / 4.5) ** 3},
        )
        plain.load_state_dict(flex.state_dict())
        data.cutoff = torch.full((data.num_nodes,), r_c, dtype=torch.float64)
        a, b = flex.eval()(data, compute_stress=True), plain.eval()(data, compute_stress=True)
        for key in ("energy", "forces", "stress"):
            torch.testing.assert_close(a[key], b[key], rtol=1e-10, atol=1e-12)


def test_neighbor_normalization_round_trips_and_is_validated(tmp_path):
    model = FCLMACE(elements=[1, 7], neighbor_normalization="cutoff", **SMALL)
    save_model(model, tmp_path / "m.pt")
    assert load_model(tmp_path / "m.pt").config()["neighbor_normalization"] == "cutoff"
    assert FCLMACE(elements=[1], **SMALL).config()["neighbor_normalization"] == "r_max"
    with pytest.raises(ValueError, match="neighbor_normalization must be 'r_max' or 'cutoff'"):
        FCLMACE(elements=[1], neighbor_normalization="receiver", **SMALL)
