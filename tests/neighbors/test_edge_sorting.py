"""The canonical edge order (centre, neighbour, shift), on both sorting paths."""

from __future__ import annotations

import pytest
import torch

from pyg_fcl.neighbors._finalize import _sort


@pytest.mark.parametrize("num_nodes", [50, 2**31])  # one packed key / two stable sorts
def test_sort_is_lexicographic(num_nodes):
    gen = torch.Generator().manual_seed(0)
    e = 2000
    i = torch.randint(0, 50, (e,), generator=gen)
    j = torch.randint(0, 50, (e,), generator=gen)
    shift = torch.randint(-3, 4, (e, 3), generator=gen)
    shift[:5] = torch.tensor([-7, 0, 9])  # wide, asymmetric shift ranges
    si, sj, ss = _sort(i, j, shift, num_nodes)
    expected = sorted(zip(i.tolist(), j.tolist(), map(tuple, shift.tolist())))
    assert list(zip(si.tolist(), sj.tolist(), map(tuple, ss.tolist()))) == expected
