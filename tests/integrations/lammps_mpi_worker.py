"""Run by test_lammps_mpi.py under ``mpiexec -n 2``: attach FCLLammps on every rank."""

import sys

from engine_helpers import ELEMENT_CUTOFFS, TYPE_ELEMENTS, tiny_model

from pyg_fcl.integrations.lammps import FCLLammps

driver = FCLLammps(tiny_model(), TYPE_ELEMENTS, cutoffs=ELEMENT_CUTOFFS)
driver.commands(
    f"units metal\natom_style atomic\nread_data {sys.argv[1]}\n"
    "fix fcl all external pf/callback 1 1\n"
)
try:
    driver.attach("fcl")
    print("attached", flush=True)
except ValueError as err:
    print(f"refused: {err}", flush=True)
