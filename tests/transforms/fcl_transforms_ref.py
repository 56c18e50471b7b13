"""Test helpers for the transforms: real and random structures, an independent brute force."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.io import read
from torch_geometric.data import Data

X23 = Path(__file__).resolve().parents[2] / "data" / "molcrys_x23"  # shipped in the repo

# Independent definitions of the edge rules (not the library's code).
RULES = {
    "mean": lambda ci, cj: 0.5 * (ci + cj),
    "receiver": lambda ci, cj: ci,
    "min": lambda ci, cj: min(ci, cj),
    "max": lambda ci, cj: max(ci, cj),
    "geometric": lambda ci, cj: math.sqrt(ci * cj),
}


def atoms_to_data(atoms: Atoms, dtype: torch.dtype = torch.float64) -> Data:
    """The DESIGN.md fields: cell [1,3,3] (zeros when non-periodic), pbc [1,3] bool."""
    cell = atoms.cell.array if atoms.pbc.any() else np.zeros((3, 3))
    return Data(
        z=torch.tensor(atoms.numbers, dtype=torch.long),
        pos=torch.tensor(atoms.positions, dtype=dtype),
        cell=torch.tensor(cell, dtype=dtype).unsqueeze(0),
        pbc=torch.tensor(atoms.pbc, dtype=torch.bool).unsqueeze(0),
    )


def _first_frame(name: str, crystal: bool) -> Atoms:
    frames = read(X23 / name, index=":")
    return next(a for a in frames if (a.cell.lengths().max() < 20) == crystal)


def _make_structures() -> dict[str, Atoms]:
    rng = np.random.default_rng(7)
    gas = _first_frame("06_benzene.xyz", crystal=False)
    gas.pbc = False
    tri_cell = np.array([[3.1, 0.0, 0.0], [1.2, 2.9, 0.0], [-0.7, 0.9, 3.4]])
    tri = Atoms("CHO", scaled_positions=rng.random((3, 3)), cell=tri_cell, pbc=True)
    tri.positions += rng.normal(scale=2.0, size=(3, 3))  # some atoms outside the cell
    slab = Atoms("C4", positions=rng.random((4, 3)) * [4.0, 4.5, 6.0], cell=[4.0, 4.5, 20.0])
    slab.pbc = [True, True, False]
    cluster = Atoms("C6H6", positions=rng.random((12, 3)) * 6.0)
    return {
        "benzene_crystal": _first_frame("06_benzene.xyz", crystal=True),
        "ethylcarbamate_triclinic": _first_frame("10_ethylcarbamate.xyz", crystal=True),
        "benzene_gas": gas,
        "small_triclinic": tri,
        "one_atom_periodic": Atoms("Ar", positions=[[0.3, 0.2, 0.1]], cell=tri_cell, pbc=True),
        "slab_xy": slab,
        "cluster": cluster,
        "isolated_atom": Atoms("H", positions=[[1.0, 2.0, 3.0]]),
    }


STRUCTURES = _make_structures()
STRUCTURE_NAMES = tuple(STRUCTURES)


def brute_force_edges(atoms: Atoms, cutoff: np.ndarray, rule: str) -> dict[tuple, tuple]:
    """All pairs over enough periodic images; ``{(j, i, s0, s1, s2): (edge_cutoff, length)}``.

    Keeps ``|pos[j] - pos[i] + s @ cell| < rule(c_i, c_j)`` except ``i == j`` at zero shift.
    """
    pos, cell, pbc = atoms.positions, atoms.cell.array, atoms.pbc
    n = len(atoms)
    r_max = float(cutoff.max()) if n else 0.0
    ranges = []
    for k in range(3):
        if not pbc[k]:
            ranges.append([0])
            continue
        inv = np.linalg.inv(cell)  # columns: reciprocal vectors; plane spacing 1/|b_k|
        frac = pos @ inv
        span = frac[:, k].max() - frac[:, k].min()
        n_k = math.ceil(r_max * np.linalg.norm(inv[:, k]) + span)
        ranges.append(range(-n_k, n_k + 1))
    edges = {}
    for shift in itertools.product(*ranges):
        vec = pos[None, :, :] - pos[:, None, :] + np.asarray(shift, float) @ cell  # [i, j]
        dist = np.linalg.norm(vec, axis=-1)
        for i, j in zip(*np.nonzero(dist < r_max + 1e-9)):
            if i == j and not any(shift):
                continue
            ec = RULES[rule](float(cutoff[i]), float(cutoff[j]))
            if dist[i, j] < ec:
                edges[(int(j), int(i), *shift)] = (ec, float(dist[i, j]))
    return edges


def graph_edges(data: Data) -> dict[tuple, tuple]:
    """The transform's output in the brute-force format."""
    keys = torch.cat([data.edge_index.t(), data.edge_shift], dim=1).tolist()
    values = zip(data.edge_cutoff.tolist(), data.edge_length.tolist())
    out = dict(zip(map(tuple, keys), values))
    assert len(out) == len(keys), "duplicate edges"
    return out
