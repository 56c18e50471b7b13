"""FCLCalculator vs finite differences and the bare model; skin reuse, NVE, transfer, md CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read
from fcl_toy import ToyPairModel

from pyg_fcl import FCLCalculator, run_md
from pyg_fcl.checkpoint import save_model
from pyg_fcl.cli import main
from pyg_fcl.data import CutoffSpec, atoms_to_data, save_cutoffs

DATA = Path(__file__).resolve().parents[1] / "data" / "molcrys_x23"
R_MAX = 5.0


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ToyPairModel(r_max=R_MAX, r_min=2.5, elements=(6, 8), hidden=16).double().eval()


@pytest.fixture
def atoms():
    return read(DATA / "07_co2.xyz", index=70)  # 12-atom periodic CO2 crystal


def _per_atom(n, seed=0):
    return np.random.default_rng(seed).uniform(3.0, R_MAX, n)


def test_forces_and_stress_equal_finite_differences(model, atoms):
    atoms.calc = FCLCalculator(model, cutoffs=_per_atom(len(atoms)), skin=0.3)
    forces, stress = atoms.get_forces(), atoms.get_stress()
    h = 1e-5
    fd = np.zeros_like(forces)
    for a in range(len(atoms)):
        for k in range(3):
            e = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.calc = atoms.calc
                moved.positions[a, k] += sign * h
                e.append(moved.get_potential_energy())
            fd[a, k] = -(e[0] - e[1]) / (2 * h)
    np.testing.assert_allclose(forces, fd, atol=1e-7)
    # stress: sigma = (1/V) dE/d(strain), Voigt order xx yy zz yz xz xy
    cell, vol = atoms.cell[:].copy(), atoms.get_volume()
    for v, (i, j) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        e = []
        for sign in (1, -1):
            eps = np.eye(3)
            eps[i, j] += sign * h / (1 if i == j else 2)
            eps[j, i] += 0 if i == j else sign * h / 2
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.set_cell(cell @ eps, scale_atoms=True)
            e.append(moved.get_potential_energy())
        assert stress[v] == pytest.approx((e[0] - e[1]) / (2 * h) / vol, abs=1e-8)


def test_equals_model_called_directly(model, atoms):
    cutoff = _per_atom(len(atoms), seed=1)
    atoms.calc = FCLCalculator(model, cutoffs=cutoff)
    data = atoms_to_data(atoms, dtype=torch.float64)
    data.cutoff = torch.tensor(cutoff)
    out = model(data, compute_stress=True)
    assert atoms.get_potential_energy() == pytest.approx(
        float(out["energy"].detach()[0]), abs=1e-12
    )
    np.testing.assert_allclose(atoms.get_forces(), out["forces"].detach().numpy(), atol=1e-12)
    full = atoms.get_stress()
    s = out["stress"].detach().numpy()[0]
    np.testing.assert_allclose(full, [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def test_skin_reuse_gives_identical_forces_to_rebuilding(model, atoms):
    cutoffs = {"C": 3.6, "O": 4.7}
    reuse = FCLCalculator(model, cutoffs=cutoffs, skin=0.6)
    fresh = FCLCalculator(model, cutoffs=cutoffs, skin=0.0)
    rng = np.random.default_rng(4)
    walk = atoms.copy()
    for step in range(25):
        walk.positions += rng.normal(scale=0.05, size=walk.positions.shape)
        a, b = walk.copy(), walk.copy()
        a.calc, b.calc = reuse, fresh
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-12, err_msg=f"{step}")
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-12)
    assert fresh.stats["builds"] == 25
    assert 1 < reuse.stats["builds"] < 25  # rebuilt only after > skin/2 displacement


def test_nve_with_per_atom_cutoffs_conserves_energy(model, atoms):
    atoms.calc = FCLCalculator(model, cutoffs=_per_atom(len(atoms), seed=2), skin=0.5)
    result = run_md(atoms, steps=100, timestep_fs=0.5, ensemble="nve", temperature=300, seed=0)
    # Stated bound: total energy within 1e-5 eV/atom of its start over 50 fs (float64, 0.5 fs;
    # measured 1.7e-7 eV/atom). A missing edge or a discontinuity at a cutoff would break it.
    assert result["energy_drift_per_atom"] < 1e-5
    assert result["final_temperature"] > 0
    assert atoms.calc.stats["builds"] >= 1


def test_per_element_cutoffs_transfer_to_supercell(model, atoms):
    spec = CutoffSpec.from_elements({"C": 3.4, "O": 4.2}, r_max=R_MAX)
    atoms.calc = FCLCalculator(model, cutoffs=spec)
    big = atoms.repeat((2, 1, 2))
    big.calc = FCLCalculator(model, cutoffs=spec)
    assert big.get_potential_energy() == pytest.approx(4 * atoms.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(big.get_forces(), np.tile(atoms.get_forces(), (4, 1)), atol=1e-10)


def test_bad_cutoffs_raise(model, atoms):
    with pytest.raises(ValueError, match="not in \\(0, r_max"):
        FCLCalculator(model, cutoffs=R_MAX + 1.0)
    atoms.calc = FCLCalculator(model, cutoffs=[4.0] * 5)
    with pytest.raises(ValueError, match="5 atoms"):
        atoms.get_forces()
    atoms.calc = FCLCalculator(model, cutoffs={"C": 4.0})
    with pytest.raises(ValueError, match="element O"):
        atoms.get_forces()


def test_md_cli_writes_json(model, tmp_path):
    ckpt, cut, out = tmp_path / "toy.pt", tmp_path / "c.json", tmp_path / "md.json"
    save_model(model.float(), ckpt)
    model.double()
    save_cutoffs(CutoffSpec.from_elements({"C": 3.5, "O": 4.5}), cut)
    args = ["md", "--model", str(ckpt), "--structure", str(DATA / "07_co2.xyz"), "--index", "70"]
    args += ["--cutoffs", str(cut), "--steps", "6", "--ensemble", "langevin", "--json", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["steps"] == 6 and result["seconds_per_step"] > 0 and result["pairs_per_atom"] > 0
    beyond = [*args[:7], "--cutoff", "9.0", "--steps", "2"]
    assert main(beyond) == 1  # a cutoff beyond r_max is a clean error


def test_per_atom_cutoffs_tile_over_repeated_supercell(model, atoms):
    cutoff = _per_atom(len(atoms), seed=3)
    spec = CutoffSpec.from_atoms(cutoff, numbers=atoms.numbers.tolist())
    big = atoms.repeat((1, 2, 1))
    big.calc = FCLCalculator(model, cutoffs=spec)
    explicit = big.copy()
    explicit.calc = FCLCalculator(model, cutoffs=np.tile(cutoff, 2))
    np.testing.assert_allclose(big.get_forces(), explicit.get_forces(), atol=1e-12)
    atoms.calc = FCLCalculator(model, cutoffs=spec)
    assert big.get_potential_energy() == pytest.approx(2 * atoms.get_potential_energy(), rel=1e-10)
