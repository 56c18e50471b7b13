"""radius_graph rejects bad input with a ValueError/ImportError that names the problem."""

from __future__ import annotations

import math

import pytest
import torch

from pyg_fcl.neighbors import _torch_cluster, radius_graph


def _pos(n=4):
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_non_finite_position_names_the_atom():
    pos = _pos(5)
    pos[3, 1] = math.nan
    with pytest.raises(ValueError, match=r"atom 3 \(structure 1\)"):
        radius_graph(pos, 2.0, batch=torch.tensor([0, 0, 1, 1, 1]))
    pos[3, 1] = math.inf
    with pytest.raises(ValueError, match="non-finite.*atom 3"):
        radius_graph(pos, 2.0)


@pytest.mark.parametrize("r_max", [0.0, -1.0, math.nan, math.inf, "abc"])
def test_bad_cutoff(r_max):
    with pytest.raises(ValueError, match="r_max"):
        radius_graph(_pos(), r_max)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pos=torch.rand(4, 2)), r"pos must have shape \[num_nodes, 3\], got \[4, 2\]"),
        (dict(pos=torch.ones(4, 3, dtype=torch.long)), "floating-point"),
        (dict(batch=torch.tensor([0, 0, 1])), r"batch must have shape \[num_nodes\] = \[4\]"),
        (dict(batch=torch.tensor([0, 1, 0, 1])), r"sorted ascending.*batch\[1\] = 1 > batch\[2\]"),
        (dict(batch=torch.tensor([0.0, 0.0, 0.0, 0.0])), "integer"),
        (dict(batch=torch.tensor([0, 0, 1, 1]), cell=torch.eye(3)), r"cell must have shape"),
        (dict(batch=torch.tensor([0, 0, 2, 2]), cell=torch.eye(3).expand(2, 3, 3)), "structure 2"),
        (dict(cell=torch.eye(3), pbc=torch.ones(1, 2, dtype=torch.bool)), "pbc must have shape"),
        (dict(cell=torch.eye(3), pbc=torch.ones(1, 3)), "pbc must be boolean"),
        (dict(cell=torch.eye(3) * math.nan), "cell of structure 0 has a non-finite value"),
    ],
)
def test_bad_shapes(kwargs, match):
    args = dict(pos=_pos(), r_max=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        radius_graph(**args)


def test_cell_count_must_cover_batch():
    with pytest.raises(ValueError, match="batch refers to structure 1"):
        radius_graph(_pos(), 2.0, batch=torch.tensor([0, 0, 1, 1]), cell=torch.eye(3)[None])


def test_singular_periodic_cell_names_structure_and_heights():
    cells = torch.stack([torch.eye(3), torch.tensor([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]])])
    batch = torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"structure 1 is singular.*\|det\| = 0.*heights"):
        radius_graph(_pos(), 2.0, batch, cells, torch.ones(2, 3, dtype=torch.bool))
    zero_row = torch.eye(3)
    zero_row[2] = 0.0
    with pytest.raises(ValueError, match="structure 0 is singular"):
        radius_graph(_pos(), 2.0, cell=zero_row, pbc=[True, True, True])


def test_degenerate_rows_along_open_directions_are_fine():
    cell = torch.tensor([[2.0, 0, 0], [0, 0, 0], [4.0, 0, 0]])  # only a is periodic
    edge_index, edge_shift = radius_graph(_pos(), 2.5, cell=cell, pbc=[True, False, False])
    assert (edge_shift[:, 1:] == 0).all()
    assert edge_index.shape[1] > 0


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown neighbour-list backend 'kdtree'.*'brute'"):
        radius_graph(_pos(), 2.0, backend="kdtree")


def test_missing_torch_cluster_says_how_to_install(monkeypatch):
    monkeypatch.setattr(_torch_cluster, "is_available", lambda: False)
    with pytest.raises(ImportError, match="pip install --no-build-isolation torch-cluster"):
        radius_graph(_pos(), 2.0, backend="torch_cluster")
