"""The canonical edge order (centre, neighbour, shift), on both sorting paths."""

from __future__ import annotations

import pytest
import torch

from pyg_fcl.neighbors._finalize import _sort


def _random_edges(seed=0, e=2000):
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(0, 50, (e,), generator=gen)
    j = torch.randint(0, 50, (e,), generator=gen)
    shift = torch.randint(-3, 4, (e, 3), generator=gen, dtype=torch.int32)
    shift[:5] = torch.tensor([-7, 0, 9], dtype=torch.int32)  # wide, asymmetric shift ranges
    shift[5] = torch.tensor([-3000, 2000, 5000], dtype=torch.int32)  # 36 bits of shift code
    return i, j, shift


def _as_list(edge_index, edge_shift):
    return list(
        zip(edge_index[1].tolist(), edge_index[0].tolist(), map(tuple, edge_shift.tolist()))
    )


@pytest.mark.parametrize("num_nodes", [50, 2**31])  # one packed key / two stable sorts
def test_sort_is_lexicographic(num_nodes):
    i, j, shift = _random_edges()
    edge_index, edge_shift = _sort(i, j, shift, num_nodes)
    assert edge_index.dtype == edge_shift.dtype == torch.long
    expected = sorted(zip(i.tolist(), j.tolist(), map(tuple, shift.tolist())))
    assert _as_list(edge_index, edge_shift) == expected


@pytest.mark.parametrize("num_nodes", [50, 2**31])
def test_sort_adds_reverse_edges_of_a_half_list(num_nodes):
    i, j, shift = _random_edges(1)
    edge_index, edge_shift = _sort(i, j, shift, num_nodes, mirror=True)
    forward = list(zip(i.tolist(), j.tolist(), map(tuple, shift.tolist())))
    backward = [(b, a, tuple(-x for x in s)) for a, b, s in forward]
    assert _as_list(edge_index, edge_shift) == sorted(forward + backward)
