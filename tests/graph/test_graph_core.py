"""pyg_fcl.graph: one conversion of user cutoffs, and the cached r_max graph as an object."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list
from torch_geometric.data import Batch, Data

from pyg_fcl import CutoffSpec, read_structures, resolve_cutoffs, save_cutoffs
from pyg_fcl.data import data_to_atoms
from pyg_fcl.graph import (
    EDGE_RULES,
    BelowTrainedRangeWarning,
    RMaxGraph,
    compute_edge_cutoff,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "molcrys_x23"


@pytest.fixture(scope="module")
def crystal() -> Data:
    return read_structures(DATA / "07_co2.xyz", index="10", dtype=torch.float64)[0]


# ---------------------------------------------------------------------- resolve_cutoffs
def test_every_user_form_gives_the_same_per_atom_tensor(crystal, tmp_path):
    z = crystal.z
    want = torch.where(z == 6, 3.5, 4.25).double()
    save_cutoffs(CutoffSpec.from_elements({"C": 3.5, "O": 4.25}), tmp_path / "c.json")
    forms = [
        {"C": 3.5, "O": 4.25},
        {6: 3.5, 8: 4.25},
        CutoffSpec.from_elements({"C": 3.5, "O": 4.25}),
        str(tmp_path / "c.json"),
        tmp_path / "c.json",
        want.tolist(),
        want.numpy(),
        want.clone(),
        CutoffSpec.from_atoms(want),
    ]
    for form in forms:
        got = resolve_cutoffs(form, z, r_max=5.0, dtype=torch.float64)
        torch.testing.assert_close(got, want, msg=f"form {type(form).__name__}")
    assert resolve_cutoffs(None, z, r_max=5.0).tolist() == [5.0] * z.numel()
    assert resolve_cutoffs(4, z, r_max=5.0).tolist() == [4.0] * z.numel()
    # a per-atom spec of one cell applies to a supercell made by atoms.repeat
    tiled = resolve_cutoffs(CutoffSpec.from_atoms(want), z.repeat(2), r_max=5.0)
    torch.testing.assert_close(tiled.double(), want.repeat(2))


def test_gradients_flow_through_a_tensor(crystal):
    c = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    out = resolve_cutoffs(c, crystal.z, r_max=5.0)
    out.sum().backward()
    assert float(c.grad) == crystal.num_nodes


@pytest.mark.parametrize(
    "cutoffs, message",
    [
        (6.0, r"cutoffs\[0\] = 6.0 is not in \(0, r_max=5.0\]: atom 0"),
        (float("nan"), "is not finite"),
        ([4.0] * 5, "cutoffs for 5 atoms but the structure has"),
        ({"C": 4.0}, "no cutoff for element O"),
        ({"Xx": 4.0}, "unknown element 'Xx'"),
        (True, "must be a number"),
        (object(), "must be None, a number"),
        ("missing.json", "missing.json"),
        (2.0, "below the model's trained r_min=3.0"),
    ],
)
def test_one_set_of_errors(crystal, cutoffs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        resolve_cutoffs(cutoffs, crystal.z, r_max=5.0, r_min=3.0)


def test_below_r_min_only_with_explicit_opt_in(crystal):
    with pytest.warns(BelowTrainedRangeWarning, match="extrapolating"):
        out = resolve_cutoffs(2.0, crystal.z, r_max=5.0, r_min=3.0, allow_below_r_min=True)
    assert out.min() == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_cutoffs(3.0, crystal.z, r_max=5.0, r_min=3.0)  # the edge of the range: fine


# ---------------------------------------------------------------------- RMaxGraph
def test_search_matches_ase_and_prune_matches_the_mask(crystal):
    rmax = RMaxGraph.search(crystal, 5.0)
    i, j = neighbor_list("ij", data_to_atoms(crystal), 5.0)
    assert rmax.num_edges == len(i)
    gen = torch.Generator().manual_seed(0)
    cutoff = 2.5 + 2.5 * torch.rand(crystal.num_nodes, generator=gen, dtype=torch.float64)
    for rule in EDGE_RULES:
        pruned = rmax.prune(cutoff, rule)
        mask = rmax.edge_length < compute_edge_cutoff(cutoff, rmax.edge_index, rule)
        assert torch.equal(pruned.edge_index, rmax.edge_index[:, mask]), rule
        assert torch.equal(pruned.edge_shift, rmax.edge_shift[mask])
        assert rmax.num_kept(cutoff, rule) == int(mask.sum())
        full = rmax.unpruned(cutoff, rule)
        assert full.edge_index.shape[1] == rmax.num_edges


def test_cache_attach_reuse_invalidate_and_collate(crystal):
    d = crystal.clone()
    assert RMaxGraph.cached(d) is None
    RMaxGraph.search(d, 5.0).attach(d)
    assert RMaxGraph.cached(d, 5.0) is not None
    assert RMaxGraph.cached(d, 5.5) is None  # searched below the radius asked for
    batch = Batch.from_data_list([d, d.clone()])
    both = RMaxGraph.cached(batch, 5.0)
    assert both.num_edges == 2 * RMaxGraph.cached(d).num_edges
    assert int(both.edge_index.min()) == 0 and int(both.edge_index.max()) == 2 * d.num_nodes - 1
    RMaxGraph.clear(d)
    assert RMaxGraph.cached(d) is None


def test_from_pairs_keeps_what_a_fresh_search_keeps(crystal):
    """A Verlet list searched with a skin, after a small move, keeps the fresh search's pairs."""
    full = RMaxGraph.search(crystal, 5.5)  # reach 5 + skin 0.5
    moved = crystal.clone()
    gen = torch.Generator().manual_seed(3)
    moved.pos = moved.pos + 0.1 * (torch.rand(moved.pos.shape, generator=gen) - 0.5)
    cell = moved.cell.reshape(3, 3)
    skin = RMaxGraph.from_pairs(moved.pos, full.edge_index, full.edge_shift, cell, 5.0, 5.0)
    fresh = RMaxGraph.search(moved, 5.0)

    def pairs(g):
        j, i = g.edge_index.tolist()
        return sorted(zip(j, i, map(tuple, g.edge_shift.tolist())))

    assert pairs(skin) == pairs(fresh)
    np.testing.assert_allclose(sorted(skin.edge_length), sorted(fresh.edge_length), atol=1e-12)


def test_overlapping_atoms_are_refused_by_the_search():
    d = Data(z=torch.tensor([6, 8]), pos=torch.tensor([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"atoms 0 and 1 are 0.05 Å apart"):
        RMaxGraph.search(d, 5.0)
