"""NVE with FCLCalculator (ASE), the same set-up as the torch-sim and LAMMPS NVE tests."""

from __future__ import annotations

from engine_helpers import ELEMENT_CUTOFFS, NVE_DRIFT_BOUND, crystal, toy_model

from pyg_fcl import FCLCalculator, run_md


def test_nve_conserves_energy_with_per_element_cutoffs():
    """1,000 steps of 0.5 fs at 300 K (CO2 crystal, 12 atoms, float64) within the bound."""
    atoms = crystal("07_co2.xyz", 70)
    atoms.calc = FCLCalculator(toy_model(), cutoffs=ELEMENT_CUTOFFS, skin=0.5)
    result = run_md(atoms, 1000, timestep_fs=0.5, temperature=300.0, seed=0)
    assert result["energy_drift_per_atom"] < NVE_DRIFT_BOUND, result["energy_drift_per_atom"]
    assert result["stats"]["builds"] < 200  # the skin list is reused
