"""Independent reference for neighbour-list tests: random structures and ASE's neighbour list."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

#: All 8 subsets of periodic directions.
PBC_SUBSETS = [list(p) for p in itertools.product([False, True], repeat=3)]
# Pairs this close to the cutoff (relative) are avoided: rounding could legitimately flip them.
BOUNDARY = 1e-6


def random_cell(rng: np.random.Generator, lo: float = 1.2, hi: float = 6.0) -> np.ndarray:
    """A random triclinic cell (rows = lattice vectors), not too flat."""
    while True:
        lengths = rng.uniform(lo, hi, 3)
        cell = np.diag(lengths) + rng.uniform(-0.5, 0.5, (3, 3)) * lengths[:, None]
        if abs(np.linalg.det(cell)) / np.prod(np.linalg.norm(cell, axis=1)) > 0.3:
            return cell


def random_structure(rng: np.random.Generator, pbc: list[bool], max_atoms: int = 8):
    """Random atoms (also outside the cell) in a random triclinic cell."""
    n = int(rng.integers(1, max_atoms + 1))
    cell = random_cell(rng)
    pos = rng.uniform(-0.5, 1.5, (n, 3)) @ cell
    return pos, cell, list(pbc)


def ase_edges(pos, cell, pbc, r: float):
    """ASE's ``neighbor_list`` (centre ``i``, neighbour ``j``, shift ``S``, distance ``d``).

    Searches slightly beyond ``r`` so callers can check that no pair sits on the boundary.
    """
    atoms = Atoms(numbers=[1] * len(pos), positions=pos, cell=cell, pbc=pbc)
    return neighbor_list("ijSd", atoms, r * (1 + BOUNDARY), self_interaction=False)


def near_boundary(d: np.ndarray, r: float) -> bool:
    return bool(((d > r * (1 - BOUNDARY)) & (d < r * (1 + BOUNDARY))).any())


def reference_edge_set(structures, r: float, offsets) -> set:
    """ASE edges of several structures as ``{(i, j, (s0, s1, s2))}`` with global indices."""
    edges = set()
    for (pos, cell, pbc), off in zip(structures, offsets):
        i, j, shift, d = ase_edges(pos, cell, pbc, r)
        keep = d < r
        for a, b, s in zip(i[keep], j[keep], shift[keep]):
            edges.add((int(a) + off, int(b) + off, tuple(int(x) for x in s)))
    return edges


def edge_list(edge_index: torch.Tensor, edge_shift: torch.Tensor) -> list:
    """Our edges as ``[(i, j, (s0, s1, s2))]`` in output order (i = centre = row 1)."""
    return [
        (i, j, tuple(s))
        for j, i, s in zip(edge_index[0].tolist(), edge_index[1].tolist(), edge_shift.tolist())
    ]


def brute_numpy_count(pos, cell, pbc, r: float, n_img: int) -> int:
    """Pairs within ``r`` by explicit loops over shifts in ``[-n_img, n_img]`` (tiny systems)."""
    ranges = [range(-n_img, n_img + 1) if p else [0] for p in pbc]
    count = 0
    for s in itertools.product(*ranges):
        d = pos[None, :, :] - pos[:, None, :] + np.asarray(s) @ cell
        dist = np.linalg.norm(d, axis=-1)
        if s == (0, 0, 0):
            np.fill_diagonal(dist, np.inf)
        count += int((dist < r).sum())
    return count
