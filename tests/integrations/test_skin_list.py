"""SkinNeighborList: pairs equal ASE's neighbour list through moves, wraps and rebuilds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list
from engine_helpers import crystal

from pyg_fcl.integrations import SkinNeighborList


def _structures():
    periodic = crystal("10_ethylcarbamate.xyz", 10)  # triclinic, 26 atoms
    rng = np.random.default_rng(1)
    molecule = Atoms("CO2", positions=rng.normal(0, 1.5, (3, 3)), pbc=False)  # no cell
    slab = crystal("07_co2.xyz", 70)
    slab.pbc = (True, True, False)
    return [periodic, molecule, slab]


def _tensors(structures):
    pos = torch.tensor(np.concatenate([a.positions for a in structures]))
    cell = torch.tensor(np.stack([a.cell[:] for a in structures]))
    pbc = torch.tensor(np.stack([a.pbc for a in structures]))
    batch = torch.cat([torch.full((len(a),), k) for k, a in enumerate(structures)])
    z = torch.tensor(np.concatenate([a.numbers for a in structures]))
    return pos, cell, pbc, batch, z


def _pairs(graph, batch, offsets):
    """Sorted (structure, i, j, rounded length) of every listed pair."""
    j, i = graph.edge_index
    out = []
    for a, b, r in zip(i.tolist(), j.tolist(), graph.edge_length.tolist()):
        g = int(batch[a])
        out.append((g, a - offsets[g], b - offsets[g], round(r, 9)))
    return sorted(out)


def _ase_pairs(structures, reach):
    out = []
    for g, atoms in enumerate(structures):
        i, j, d = neighbor_list("ijd", atoms, reach)
        out += [(g, int(a), int(b), round(float(r), 9)) for a, b, r in zip(i, j, d)]
    return sorted(out)


@pytest.mark.parametrize("skin", [0.0, 0.4])
def test_equals_ase_through_moves_and_wraps(skin):
    structures = _structures()
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in structures])])
    nl = SkinNeighborList(skin=skin)
    rng = np.random.default_rng(0)
    reach = 3.6
    for step in range(6):
        for atoms in structures:
            atoms.positions += rng.normal(0, 0.02, atoms.positions.shape)  # < skin / 2 in all
        if step == 3:  # an engine wraps atoms into the cell: whole lattice vectors
            structures[0].positions[0] += structures[0].cell[1] - 2 * structures[0].cell[2]
            structures[2].positions[5] -= structures[2].cell[0]
        pos, cell, pbc, batch, z = _tensors(structures)
        graph = nl.graph(pos, cell, pbc, batch, z, reach=reach, complete_to=4.5)
        assert _pairs(graph, batch, offsets) == _ase_pairs(structures, reach)
        assert graph.radius.tolist() == [4.5, 4.5, 4.5]
    assert nl.stats["builds"] == (1 if skin > 0 else 6)


def test_searches_again_when_needed():
    structures = _structures()
    nl = SkinNeighborList(skin=0.4)
    pos, cell, pbc, batch, z = _tensors(structures)
    nl.graph(pos, cell, pbc, batch, z, reach=3.0, complete_to=4.5)
    moved = pos.clone()
    moved[4, 0] += 0.25  # more than skin / 2
    nl.graph(moved, cell, pbc, batch, z, reach=3.0, complete_to=4.5)
    nl.graph(moved, cell, pbc, batch, z, reach=3.5, complete_to=4.5)  # larger cutoffs
    nl.graph(moved, cell * 1.01, pbc, batch, z, reach=3.0, complete_to=4.5)  # new cell
    assert nl.stats["builds"] == 4
    with pytest.raises(ValueError, match="skin must be >= 0"):
        SkinNeighborList(skin=-1)
