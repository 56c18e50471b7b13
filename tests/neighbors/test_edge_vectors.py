"""edge_vectors: ASE's distance vectors, and gradients w.r.t. positions and cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list
from nbr_reference import random_structure

from pyg_fcl.neighbors import edge_vectors, radius_graph


def _batch():
    rng = np.random.default_rng(1)
    structures = [random_structure(rng, p) for p in ([True] * 3, [True, False, True], [False] * 3)]
    pos = torch.tensor(np.concatenate([s[0] for s in structures]))
    cell = torch.tensor(np.stack([s[1] for s in structures]))
    pbc = torch.tensor([s[2] for s in structures])
    batch = torch.cat([torch.full((len(s[0]),), g) for g, s in enumerate(structures)])
    return structures, pos, batch, cell, pbc


def test_matches_ase_distance_vectors():
    structures, pos, batch, cell, pbc = _batch()
    r = 3.0
    edge_index, edge_shift = radius_graph(pos, r, batch, cell, pbc)
    vec = edge_vectors(pos, edge_index, edge_shift, cell, batch)
    ours, offset = {}, 0
    for j, i, s, v in zip(*edge_index.tolist(), edge_shift.tolist(), vec.tolist()):
        ours[(i, j, tuple(s))] = v
    for pos_s, cell_s, pbc_s in structures:
        atoms = Atoms(numbers=[1] * len(pos_s), positions=pos_s, cell=cell_s, pbc=pbc_s)
        for i, j, s, d in zip(*neighbor_list("ijSD", atoms, r)):
            key = (int(i) + offset, int(j) + offset, tuple(int(x) for x in s))
            np.testing.assert_allclose(ours.pop(key), d, atol=1e-12)
        offset += len(pos_s)
    assert ours == {}
    assert torch.allclose(vec.norm(dim=-1), vec.norm(dim=-1).clamp(max=r))


def test_gradcheck_positions_and_cell():
    _, pos, batch, cell, pbc = _batch()
    edge_index, edge_shift = radius_graph(pos, 2.5, batch, cell, pbc)
    assert (edge_shift != 0).any()

    def fn(p, c):
        return edge_vectors(p, edge_index, edge_shift, c, batch)

    inputs = (pos.clone().requires_grad_(), cell.clone().requires_grad_())
    assert torch.autograd.gradcheck(fn, inputs)


def test_single_cell_and_no_cell():
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]])
    edge_index = torch.tensor([[1, 0], [0, 1]])
    shift = torch.tensor([[-1, 0, 0], [0, 0, 0]])
    cell = torch.eye(3)
    vec = edge_vectors(pos, edge_index, shift, cell)
    assert torch.allclose(vec, torch.tensor([[-0.1, 0.0, 0.0], [-0.9, 0.0, 0.0]]))
    assert torch.allclose(edge_vectors(pos, edge_index), torch.tensor([[0.9, 0, 0], [-0.9, 0, 0]]))


def test_several_cells_need_batch():
    pos = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="batch is required"):
        edge_vectors(
            pos,
            torch.zeros(2, 1, dtype=torch.long),
            torch.zeros(1, 3),
            torch.eye(3).expand(2, 3, 3),
        )
