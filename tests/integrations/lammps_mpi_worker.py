"""Run by test_lammps_mpi.py under ``mpiexec -n 2``: attach FCLLammps on every rank.

Each rank writes its outcome to ``<argv[2]>.<rank>``: the ranks share one stdout, where LAMMPS's
own buffered screen output can split a line of the other rank.
"""

import os
import sys
from pathlib import Path

from engine_helpers import ELEMENT_CUTOFFS, TYPE_ELEMENTS, tiny_model

from pyg_fcl.integrations.lammps import FCLLammps

driver = FCLLammps(tiny_model(), TYPE_ELEMENTS, cutoffs=ELEMENT_CUTOFFS)
driver.commands(
    f"units metal\natom_style atomic\nread_data {sys.argv[1]}\n"
    "fix fcl all external pf/callback 1 1\n"
)
try:
    driver.attach("fcl")
    outcome = "attached"
except ValueError as err:
    outcome = f"refused: {err}"
print(outcome, flush=True)
Path(f"{sys.argv[2]}.{os.environ['PMI_RANK']}").write_text(outcome)
