"""The torch_cluster backend never truncates, even where torch-cluster's default cap would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from pyg_fcl.neighbors import radius_graph

torch_cluster = pytest.importorskip("torch_cluster")


@pytest.mark.parametrize("periodic", [True, False])
def test_dense_system_is_not_truncated(periodic):
    # 0.15 atoms/Å^3 at r = 5 Å: ~78 neighbours per atom, far above torch-cluster's default 32.
    n, density, r = 500, 0.15, 5.0
    box = (n / density) ** (1 / 3)
    gen = torch.Generator().manual_seed(0)
    pos = torch.rand(n, 3, generator=gen, dtype=torch.float64) * box
    cell = torch.eye(3, dtype=torch.float64) * box
    pbc = [periodic] * 3
    edge_index, edge_shift = radius_graph(pos, r, cell=cell, pbc=pbc, backend="torch_cluster")

    atoms = Atoms(numbers=[1] * n, positions=pos.numpy(), cell=cell.numpy(), pbc=pbc)
    i, j, shift = neighbor_list("ijS", atoms, r)
    expected = set(zip(i.tolist(), j.tolist(), map(tuple, shift.tolist())))
    got = set(zip(edge_index[1].tolist(), edge_index[0].tolist(), map(tuple, edge_shift.tolist())))
    assert got == expected and edge_index.shape[1] == len(expected)

    degree = torch.bincount(edge_index[1], minlength=n)
    assert int(degree.max()) > 32
    # The cap this backend lifts: torch-cluster's default silently drops neighbours.
    if not periodic:
        capped = torch_cluster.radius(pos, pos, r)  # max_num_neighbors=32
        assert capped.shape[1] - n < edge_index.shape[1]  # minus the n self pairs


def test_agrees_with_brute_on_a_batch_with_tiny_cells():
    rng = np.random.default_rng(4)
    cells = torch.tensor(np.stack([np.diag(rng.uniform(0.8, 1.5, 3)) for _ in range(3)]))
    pos = torch.tensor(rng.uniform(0, 1, (9, 3)))
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pbc = torch.tensor([[True, True, True], [True, False, True], [False, False, False]])
    ours = radius_graph(pos, 3.2, batch, cells, pbc, backend="torch_cluster", sort=True)
    ref = radius_graph(pos, 3.2, batch, cells, pbc, backend="brute", sort=True)
    assert torch.equal(ours[0], ref[0]) and torch.equal(ours[1], ref[1])
    assert int(ours[1].abs().max()) >= 2  # several images of the same neighbour
