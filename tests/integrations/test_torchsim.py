"""FCLTorchSimModel: torch-sim's own interface check, agreement with FCLCalculator, NVE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import (
    CRYSTALS,
    ELEMENT_CUTOFFS,
    NVE_DRIFT_BOUND,
    crystal,
    per_atom_cutoffs,
    reference,
    tiny_model,
    toy_model,
)

ts = pytest.importorskip(
    "torch_sim", reason="torch-sim is not installed: pip install 'pyg-fcl[torchsim]'"
)
from torch_sim.models.interface import validate_model_outputs  # noqa: E402

from pyg_fcl.integrations.torchsim import FCLTorchSimModel  # noqa: E402

F64 = torch.float64
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def crystals():
    return [crystal(name, index) for name, index in CRYSTALS]


def test_passes_torch_sims_validate_model_outputs(model):
    validate_model_outputs(FCLTorchSimModel(model), CPU, F64)
    validate_model_outputs(FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS, skin=0.0), CPU, F64)


def _check_against_ase(out, crystals, refs, offsets):
    for k, (atoms, ref) in enumerate(zip(crystals, refs)):
        n = len(atoms)
        atoms_slice = slice(offsets[k], offsets[k] + n)
        assert abs(float(out["energy"][k]) - ref["energy"]) / n <= 1e-6
        np.testing.assert_allclose(out["forces"][atoms_slice].numpy(), ref["forces"], atol=1e-5)
        np.testing.assert_allclose(out["stress"][k].numpy(), ref["stress"], atol=1e-7)


@pytest.mark.parametrize("kind", ["element", "atom_argument", "atom_state", "global"])
def test_batched_equals_ase_calculator(model, crystals, kind):
    """Four crystals (cubic to triclinic) in one batch: each matches FCLCalculator alone."""
    state = ts.io.atoms_to_state(crystals, CPU, F64)
    sizes = [len(a) for a in crystals]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    per_atom = [per_atom_cutoffs(n, seed=k) for k, n in enumerate(sizes)]
    cutoffs = {
        "element": [ELEMENT_CUTOFFS] * 4,
        "atom_argument": per_atom,
        "atom_state": per_atom,
        "global": [3.7] * 4,
    }[kind]
    refs = [reference(model, a, c) for a, c in zip(crystals, cutoffs)]
    if kind == "element":
        wrapper = FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS)
    elif kind == "global":
        wrapper = FCLTorchSimModel(model, cutoffs=3.7)
    elif kind == "atom_argument":
        wrapper = FCLTorchSimModel(model, cutoffs=np.concatenate(per_atom))
    else:  # carried by the state: torch-sim 0.6 per-atom extras / an attribute in 0.3
        wrapper = FCLTorchSimModel(model, cutoffs=3.0)  # must be overridden by the state
        state.cutoff = torch.as_tensor(np.concatenate(per_atom))
    out = wrapper(state)
    assert out["energy"].shape == (4,) and out["stress"].shape == (4, 3, 3)
    _check_against_ase(out, crystals, refs, offsets)


def test_shared_x23_copy_and_state_dict(model):
    """The shared data copy, through a state dict in torch-sim's column-cell convention."""
    atoms = crystal("13_naphthalene.xyz", 10, shared=True)  # monoclinic
    ref = reference(model, atoms, ELEMENT_CUTOFFS)
    state = ts.io.atoms_to_state([atoms], CPU, F64)
    as_dict = {
        "positions": state.positions,
        "cell": state.cell,  # columns
        "pbc": True,
        "atomic_numbers": state.atomic_numbers,
        "system_idx": state.system_idx,
    }
    out = FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS)(as_dict)
    _check_against_ase(out, [atoms], [ref], [0])


def test_skin_list_reuse_through_wrapping_matches_fresh_search(model, crystals):
    """Small moves and lattice-vector wraps reuse the list and keep the exact results."""
    wrapper = FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS, skin=0.6)
    fresh = FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS, skin=0.0)
    state = ts.io.atoms_to_state(crystals[:2], CPU, F64)
    gen = torch.Generator().manual_seed(0)
    for step in range(4):
        state.positions = state.positions + 0.03 * torch.randn(
            state.positions.shape, generator=gen, dtype=F64
        )
        if step == 2:  # torch-sim wraps atoms into the cell: jump two atoms by lattice vectors
            state.positions[0] += state.cell[0, :, 1]
            state.positions[-1] -= state.cell[1, :, 0] + state.cell[1, :, 2]
        a, b = wrapper(state), fresh(state)
        for key in ("energy", "forces", "stress"):
            torch.testing.assert_close(a[key], b[key], atol=1e-10, rtol=0)
    assert wrapper.stats["builds"] == 1 and fresh.stats["builds"] == 4


def test_cutoffs_for_an_element_the_model_does_not_know(model):
    with pytest.raises(ValueError, match=r"Cl \(Z=17\), which the model does not know"):
        FCLTorchSimModel(model, cutoffs={"C": 4.0, "Cl": 4.0})


def test_cutoffs_above_r_max_and_wrong_length_name_the_source(model, crystals):
    with pytest.raises(ValueError, match=r"is not in \(0, r_max=4.5\]"):
        FCLTorchSimModel(model, cutoffs={"C": 6.0})
    with pytest.raises(ValueError, match="below the model's trained r_min=2.5"):
        FCLTorchSimModel(model, cutoffs=2.0)
    state = ts.io.atoms_to_state(crystals[:2], CPU, F64)
    with pytest.raises(ValueError, match=r"shape \[num_nodes\] = \[36\]"):
        FCLTorchSimModel(model, cutoffs=[3.0] * 10)(state)
    state.cutoff = torch.full((36,), 3.0)
    state.cutoff[30] = 9.0
    with pytest.raises(ValueError, match=r"state.cutoff\[30\].*structure 1, atom 18"):
        FCLTorchSimModel(model)(state)


def nve_energies(wrapper, atoms, steps, dt_fs, kT, seed=0):
    """Total energy per step of torch-sim's velocity Verlet (0.3 API), eV."""
    state = ts.io.atoms_to_state([atoms], CPU, F64)
    dt = torch.tensor(dt_fs * 1e-3 * ts.units.MetalUnits.time, dtype=F64)  # ps -> internal
    init, update = ts.nve(wrapper, dt=dt, kT=kT, seed=seed)
    md = init(state)
    etot = []
    for _ in range(steps):
        md = update(md)
        kinetic = ts.calc_kinetic_energy(
            masses=md.masses, momenta=md.momenta, system_idx=md.system_idx
        )
        etot.append(float(md.energy[0] + kinetic[0]))
    return np.array(etot)


def test_nve_conserves_energy_with_per_element_cutoffs():
    """1,000 steps of 0.5 fs at 300 K (CO2 crystal, 12 atoms, float64) within the bound."""
    atoms = crystal("07_co2.xyz", 70)
    wrapper = FCLTorchSimModel(toy_model(), cutoffs=ELEMENT_CUTOFFS, skin=0.5)
    kT = torch.tensor(300 * ts.units.MetalUnits.temperature, dtype=F64)
    etot = nve_energies(wrapper, atoms, 1000, 0.5, kT)
    drift = np.abs(etot - etot[0]).max() / len(atoms)
    assert drift < NVE_DRIFT_BOUND, drift
    assert wrapper.stats["builds"] < 200  # the skin list is reused
