"""radius_graph against ASE's neighbour list on random periodic, mixed and open structures."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
from nbr_reference import (
    PBC_SUBSETS,
    ase_edges,
    brute_numpy_count,
    edge_list,
    near_boundary,
    random_cell,
    random_structure,
    reference_edge_set,
)

from pyg_fcl.neighbors import available_backends, radius_graph

BACKENDS = available_backends()
NUM_BATCHES = 36


def _pack(structures, rng, zero_open_rows=True):
    """Batched tensors; the cell rows of open directions are zeroed at random (they are unused)."""
    pos = torch.tensor(np.concatenate([s[0] for s in structures]))
    cells = []
    for _, cell, pbc in structures:
        cell = cell.copy()
        if zero_open_rows and rng.random() < 0.5:
            cell[~np.asarray(pbc)] = 0.0
        cells.append(cell)
    batch = torch.cat([torch.full((len(s[0]),), g) for g, s in enumerate(structures)])
    offsets = np.cumsum([0] + [len(s[0]) for s in structures])[:-1]
    return (
        pos,
        batch,
        torch.tensor(np.stack(cells)),
        torch.tensor([s[2] for s in structures]),
        offsets,
    )


@functools.lru_cache(maxsize=1)
def random_batches():
    """Seeded batches of 1-6 random structures cycling through all 8 PBC subsets, with ASE edges.

    Cells are triclinic with lengths 1.2-6 Å and cutoffs 1-4.5 Å, so many cells are shorter than
    the cutoff; atoms lie up to half a cell outside; batches mix periodic and open structures.
    """
    rng = np.random.default_rng(20240611)
    batches, k = [], 0
    for _ in range(NUM_BATCHES):
        structures = []
        for _ in range(int(rng.integers(1, 7))):
            structures.append(random_structure(rng, PBC_SUBSETS[k % 8]))
            k += 1
        while True:  # a cutoff with no pair within 1e-6 (relative) of it
            r = float(rng.uniform(1.0, 4.5))
            if not any(near_boundary(ase_edges(*s, r)[3], r) for s in structures):
                break
        pos, batch, cell, pbc, offsets = _pack(structures, rng)
        batches.append((pos, batch, cell, pbc, r, reference_edge_set(structures, r, offsets)))
    return batches


def test_random_batches_cover_the_hard_cases():
    batches = random_batches()
    sizes = [torch.bincount(b[1]).tolist() for b in batches]
    edges = [e for b in batches for e in b[5]]
    assert sum(len(s) for s in sizes) >= 100
    assert any(1 in s for s in sizes)  # single-atom structures
    assert any(i == j for i, j, _ in edges)  # an atom's own periodic images
    assert any(max(abs(x) for x in s) >= 2 for _, _, s in edges)  # cells shorter than r
    isolated = sum(b[0].shape[0] - len({i for i, _, _ in b[5]}) for b in batches)
    assert isolated > 0  # atoms without neighbours
    mixed = [b for b in batches if b[3].any(1).any() and not b[3].any(1).all()]
    assert len(mixed) > 5  # batches mixing periodic and open structures


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_ase_on_random_batches(backend):
    mismatches = []
    for k, (pos, batch, cell, pbc, r, reference) in enumerate(random_batches()):
        edge_index, edge_shift = radius_graph(pos, r, batch, cell, pbc, backend=backend)
        got = edge_list(edge_index, edge_shift)
        if len(got) != len(set(got)) or set(got) != reference:
            mismatches.append((k, len(got), len(reference)))
    assert mismatches == []


def test_backends_return_identical_sorted_tensors():
    for pos, batch, cell, pbc, r, _ in random_batches():
        results = [
            radius_graph(pos, r, batch, cell, pbc, backend=b, sort=True)
            for b in BACKENDS + ["auto"]
        ]
        edge_index, edge_shift = results[0]
        assert edge_index.dtype == edge_shift.dtype == torch.long
        assert edge_shift.shape == (edge_index.shape[1], 3)
        keys = edge_list(edge_index, edge_shift)
        assert keys == sorted(keys)
        for other_index, other_shift in results[1:]:
            assert torch.equal(edge_index, other_index)
            assert torch.equal(edge_shift, other_shift)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_positions(backend):
    # float32 positions are exact in float64, so ASE sees exactly the same structure.
    rng = np.random.default_rng(7)
    structures = [random_structure(rng, p) for p in PBC_SUBSETS]
    structures = [(p.astype(np.float32).astype(np.float64), c, b) for p, c, b in structures]
    r = 3.1
    assert not any(near_boundary(ase_edges(*s, r)[3], r) for s in structures)
    pos, batch, cell, pbc, offsets = _pack(structures, rng)
    edge_index, edge_shift = radius_graph(pos.float(), r, batch, cell.float(), pbc, backend=backend)
    assert set(edge_list(edge_index, edge_shift)) == reference_edge_set(structures, r, offsets)


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_atom_sees_its_own_images(backend):
    a, r = 1.0, 1.5  # 6 images at 1 Å and 12 at sqrt(2) Å
    edge_index, edge_shift = radius_graph(
        torch.zeros(1, 3), r, cell=torch.eye(3) * a, pbc=[True] * 3, backend=backend
    )
    assert edge_index.shape == (2, 18)
    assert (edge_index == 0).all()
    shells = {s for s in itertools.product([-1, 0, 1], repeat=3) if 0 < sum(x * x for x in s) <= 2}
    assert set(map(tuple, edge_shift.tolist())) == shells
    open_index, open_shift = radius_graph(torch.zeros(1, 3), r, backend=backend)
    assert open_index.shape == (2, 0) and open_shift.shape == (0, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolated_atoms_and_empty_structure(backend):
    # Structure 0: open, atoms 10 Å apart (isolated). Structure 1: no atoms. Structure 2: periodic.
    rng = np.random.default_rng(3)
    far = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    periodic = random_structure(rng, [True, True, True])
    pos = torch.tensor(np.concatenate([far, periodic[0]]))
    batch = torch.tensor([0, 0, 0] + [2] * len(periodic[0]))
    cell = torch.tensor(np.stack([np.zeros((3, 3)), np.eye(3), periodic[1]]))
    pbc = torch.tensor([[False] * 3, [True] * 3, [True] * 3])
    r = 2.7
    edge_index, edge_shift = radius_graph(pos, r, batch, cell, pbc, backend=backend)
    assert set(edge_list(edge_index, edge_shift)) == reference_edge_set([periodic], r, [3])
    assert not (edge_index < 3).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_triclinic_cell_many_images(backend):
    rng = np.random.default_rng(11)
    cell = random_cell(rng, 0.6, 1.0)
    pos = rng.uniform(-2.0, 3.0, (3, 3)) @ cell  # far outside the cell
    r = 3.3
    i, _, _, d = ase_edges(pos, cell, [True] * 3, r)
    assert not near_boundary(d, r)
    edge_index, edge_shift = radius_graph(
        torch.tensor(pos), r, cell=torch.tensor(cell), backend=backend
    )
    expected = reference_edge_set([(pos, cell, [True] * 3)], r, [0])
    assert set(edge_list(edge_index, edge_shift)) == expected
    # Independent count with plain loops over shifts (|s_k| <= r / min height + 1 suffices).
    heights = abs(np.linalg.det(cell)) / np.linalg.norm(
        np.cross(np.roll(cell, -1, 0), np.roll(cell, -2, 0)), axis=1
    )
    n_img = int(np.ceil(r / heights.min())) + 3
    wrapped = pos - np.floor(pos @ np.linalg.inv(cell)) @ cell
    assert edge_index.shape[1] == brute_numpy_count(wrapped, cell, [True] * 3, r, n_img)


def test_pbc_defaults_to_nonzero_cell_rows():
    rng = np.random.default_rng(5)
    pos, cell, _ = random_structure(rng, [True, False, True])
    cell[1] = 0.0
    pos_t, cell_t = torch.tensor(pos), torch.tensor(cell)
    explicit = radius_graph(pos_t, 3.0, cell=cell_t, pbc=torch.tensor([True, False, True]))
    implicit = radius_graph(pos_t, 3.0, cell=cell_t)
    assert torch.equal(explicit[0], implicit[0]) and torch.equal(explicit[1], implicit[1])


def test_positions_requiring_grad_are_accepted():
    pos = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
    edge_index, _ = radius_graph(pos, 2.0)
    assert edge_index.shape[1] == 20  # all pairs of 5 atoms within a unit cube


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsorted_default_is_the_sorted_graph_permuted(backend):
    for pos, batch, cell, pbc, r, _ in random_batches()[:12]:
        edge_index, edge_shift = radius_graph(pos, r, batch, cell, pbc, backend=backend)
        ref_index, ref_shift = radius_graph(pos, r, batch, cell, pbc, backend=backend, sort=True)
        assert edge_index.dtype == edge_shift.dtype == torch.long
        assert edge_shift.shape == (edge_index.shape[1], 3)
        got = edge_list(edge_index, edge_shift)
        assert sorted(got) == edge_list(ref_index, ref_shift)
        again = radius_graph(pos, r, batch, cell, pbc, backend=backend)  # deterministic
        assert torch.equal(again[0], edge_index) and torch.equal(again[1], edge_shift)


def test_half_lists_hold_each_pair_once_as_its_representative():
    for pos, batch, cell, pbc, r, reference in random_batches()[:18]:
        sorted_halves = []
        for backend in BACKENDS:
            edge_index, edge_shift = radius_graph(
                pos, r, batch, cell, pbc, backend=backend, half=True
            )
            pairs = edge_list(edge_index, edge_shift)  # (i, j, shift) with i the centre
            assert len(pairs) == len(set(pairs)) and 2 * len(pairs) == len(reference)
            for i, j, s in pairs:
                assert i < j or (i == j and s > (0, 0, 0))
            both = set(pairs) | {(j, i, tuple(-x for x in s)) for i, j, s in pairs}
            assert both == reference
            sorted_halves.append(
                radius_graph(pos, r, batch, cell, pbc, backend=backend, half=True, sort=True)
            )
        for other in sorted_halves[1:]:
            assert torch.equal(other[0], sorted_halves[0][0])
            assert torch.equal(other[1], sorted_halves[0][1])
        keys = edge_list(*sorted_halves[0])
        assert keys == sorted(keys)


def test_expanded_views_of_pbc_and_cell_give_the_same_graph():
    """vesin reads raw memory: stride-0 (expanded) pbc / cell views must not change the result."""
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.43, cubic=True)  # 8 atoms, 16 neighbours each at 3.9 Å
    pos = torch.as_tensor(atoms.positions)
    cell = torch.as_tensor(np.asarray(atoms.cell[:])).reshape(1, 3, 3)
    flags = torch.zeros(64, dtype=torch.bool)
    flags[0] = True
    pbc_view = flags[:1].reshape(1, 1).expand(1, 3)  # stride 0: all True
    cell_view = cell.expand(1, 3, 3)
    want = radius_graph(pos, 3.9, cell=cell, pbc=torch.ones(1, 3, dtype=torch.bool), sort=True)
    got = radius_graph(pos, 3.9, cell=cell_view, pbc=pbc_view, sort=True)
    assert want[0].shape[1] == 128
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
