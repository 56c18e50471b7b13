"""pyg_fcl.testing: a correct model passes every check, and each check catches a broken model.

The model under test is a small analytic pair potential written against the public API
(:class:`PairModel`); each ``defect`` breaks one physical property on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pyg_fcl import FCLModel, read_structures
from pyg_fcl import testing as ft
from pyg_fcl.neighbors import edge_vectors
from pyg_fcl.nn import apply_strain, forces_and_stress, polynomial_envelope

DATA = Path(__file__).resolve().parents[1] / "data"
DEFECTS = (
    None,
    "no_envelope",  # hard cutoff: energy jumps when an edge appears
    "linear_envelope",  # 1 - r/r_c: energy continuous, forces jump
    "absolute_x",  # energy depends on the x coordinate
    "origin_distance",  # energy depends on |pos|^2 (rotation-invariant, not periodic)
    "forces_scaled",  # forces twice -dE/dx
    "stress_sign",  # stress with the wrong sign
    "per_structure_constant",  # +1 eV per structure: not extensive
    "batch_size_term",  # energy depends on how many structures share the batch
    "atom_index_term",  # per-atom energy depends on the atom's position in the list
    "cutoff_detached",  # cutoffs enter without gradient
)


class PairModel(FCLModel):
    """``E = sum_edges u(r/r_c) a_zz' exp(-(r - 1.5)) (1 + 0.1 r_c) + sum_i 0.01 r_c^(i)^2``."""

    def __init__(self, r_max=4.5, r_min=2.5, edge_rule="mean", elements=(1, 6, 7, 8), defect=None):
        super().__init__(r_max=r_max, r_min=r_min, edge_rule=edge_rule, elements=elements)
        self.defect = defect
        g = torch.Generator().manual_seed(0)
        self.pair = nn.Parameter(torch.rand(119, 119, generator=g) + 0.5)
        self.double()

    def config(self):
        return dict(r_max=self.r_max, r_min=self.r_min, edge_rule=self.edge_rule,
                     elements=list(self.elements), defect=self.defect)  # fmt: skip

    def forward(self, data, compute_stress=False):  # no ``prune`` argument on purpose
        data = self.prepare(data)
        cell = data.cell.reshape(-1, 3, 3)
        geo = apply_strain(data.pos, cell, data.batch, cell.shape[0], compute_stress)
        vec = edge_vectors(geo.pos, data.edge_index, data.edge_shift, geo.cell, data.batch)
        r = vec.norm(dim=-1)
        cutoff = data.cutoff.detach() if self.defect == "cutoff_detached" else data.cutoff
        data.cutoff = cutoff
        rc = self.edge_cutoff(data)
        j, i = data.edge_index
        if self.defect == "no_envelope":
            u = torch.ones_like(r)
        elif self.defect == "linear_envelope":
            u = (1 - r / rc).clamp(min=0)
        else:
            u = polynomial_envelope(r, rc)
        pair = u * self.pair[data.z[i], data.z[j]] * torch.exp(-(r - 1.5)) * (1 + 0.1 * rc)
        raw = 0.01 * cutoff**2 + torch.zeros_like(cutoff).index_add(0, i, 0.5 * pair)
        if self.defect == "absolute_x":
            raw = raw + 0.05 * geo.pos[:, 0]
        if self.defect == "origin_distance":
            raw = raw + 0.01 * (geo.pos**2).sum(-1)
        if self.defect == "atom_index_term":
            raw = raw + 1e-3 * torch.arange(raw.numel(), dtype=raw.dtype)
        node_energy = self.normalize_energy(raw, data.z)
        energy = node_energy.new_zeros(cell.shape[0]).index_add(0, data.batch, node_energy)
        if self.defect == "per_structure_constant":
            energy = energy + 1.0
        if self.defect == "batch_size_term":
            energy = energy + 0.1 * cell.shape[0]
        create_graph = self.training or cutoff.requires_grad
        forces, stress = forces_and_stress(energy, geo, create_graph=create_graph)
        if self.defect == "forces_scaled":
            forces = 2 * forces
        if self.defect == "stress_sign" and stress is not None:
            stress = -stress
        out = {"energy": energy, "node_energy": node_energy, "forces": forces}
        if compute_stress:
            out["stress"] = stress
        return out


@pytest.fixture(scope="module")
def structures():
    ammonia = read_structures(DATA / "molcrys_x23" / "04_ammonia.xyz", index="10:11")[0]
    co2 = read_structures(DATA / "molcrys_x23" / "07_co2.xyz", index="10:11")[0]
    return [ammonia, co2]


def test_correct_model_passes_every_check(structures):
    model = PairModel()
    ran = ft.run_all_checks(model, structures, seed=1)
    names = {name for _, name in ran}
    assert names == set(ft.ALL_CHECKS) | {"batch"}
    assert len(ran) == 2 * len(ft.ALL_CHECKS) + 1


# each defect and the checks that must catch it
CAUGHT = {
    "no_envelope": ["smooth_at_edge_cutoff", "smooth_in_cutoff", "pruning_exact"],
    "linear_envelope": ["smooth_at_edge_cutoff", "smooth_in_cutoff"],
    "absolute_x": ["rotation", "translation", "periodic_images"],
    "origin_distance": ["translation", "periodic_images"],
    "forces_scaled": ["forces_fd"],
    "stress_sign": ["stress_fd"],
    "per_structure_constant": ["extensive"],
    "batch_size_term": ["batch"],
    "atom_index_term": ["permutation"],
    "cutoff_detached": ["cutoff_gradients_fd"],
}


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_each_check_catches_its_defect(structures, defect):
    model = PairModel(defect=defect)
    for check in CAUGHT[defect]:
        with pytest.raises(AssertionError, match=f"check '{check}' failed"):
            ft.run_all_checks(model, structures, checks=[check], seed=1)


def test_linear_envelope_passes_energy_but_fails_forces(structures):
    model = PairModel(defect="linear_envelope")
    with pytest.raises(AssertionError, match="forces is discontinuous"):
        ft.assert_smooth_at_edge_cutoff(model, structures[0], ft.random_cutoffs(model, 16, seed=2))


def test_messages_name_structure_and_quantity(structures):
    model = PairModel(defect="forces_scaled")
    with pytest.raises(AssertionError, match=r"finite-difference forces of 04_ammonia"):
        ft.assert_forces_match_finite_differences(model, structures[0])


def test_accepts_ase_atoms_and_scalar_cutoff(structures):
    from pyg_fcl import data_to_atoms

    model = PairModel()
    atoms = data_to_atoms(structures[1])
    ft.assert_rotation_equivariant(model, atoms, 3.7)
    ft.assert_extensive(model, atoms, 3.7)


def test_bad_inputs_raise_value_errors(structures):
    model = PairModel()
    with pytest.raises(ValueError, match="cutoff has shape"):
        ft.assert_translation_invariant(model, structures[0], torch.ones(3))
    with pytest.raises(ValueError, match="vacuous"):
        ft.assert_pruning_exact(model, structures[0], model.r_max)
    molecule = structures[0].clone()
    molecule.pbc = torch.zeros(1, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="periodic"):
        ft.assert_extensive(model, molecule)
    with pytest.raises(ValueError, match="unknown checks"):
        ft.run_all_checks(model, structures, checks=["nope"])


def test_random_cutoffs_in_trained_range():
    model = PairModel()
    c = ft.random_cutoffs(model, 1000, seed=0)
    assert c.dtype == torch.float64 and c.shape == (1000,)
    assert float(c.min()) >= model.r_min and float(c.max()) <= model.r_max
    assert torch.equal(c, ft.random_cutoffs(model, 1000, seed=0))
