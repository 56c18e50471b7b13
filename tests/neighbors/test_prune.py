"""prune_edges: the float32 pre-selection returns exactly the float64 mask's edges."""

from __future__ import annotations

import pytest
import torch

from pyg_fcl.graph import EDGE_RULES, compute_edge_cutoff
from pyg_fcl.neighbors._prune import compact_shift, length_lower_bound, prune_edges, prune_pairs


def _reference(edge_index, edge_shift, length, cutoff, rule):
    edge_cutoff = compute_edge_cutoff(cutoff, edge_index, rule)
    keep = length < edge_cutoff.detach()
    return edge_index[:, keep], edge_shift[keep], edge_cutoff[keep], length[keep]


def _random_graph(seed, num_nodes=60, num_edges=3000, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_shift = torch.randint(-2, 3, (num_edges, 3), generator=gen)
    cutoff = (2.5 + 2.5 * torch.rand(num_nodes, generator=gen, dtype=torch.float64)).to(dtype)
    length = (5.0 * torch.rand(num_edges, generator=gen, dtype=torch.float64)).to(dtype)
    return edge_index, edge_shift, length, cutoff


def _on_the_boundary(edge_index, length, cutoff, rule, gen):
    """Puts a third of the lengths at, or one or two ulps (of the length dtype) around, their
    edge cutoff."""
    edge_cutoff = compute_edge_cutoff(cutoff, edge_index, rule).to(length.dtype)
    pick = torch.rand(length.shape[0], generator=gen) < 0.33
    steps = torch.randint(-2, 3, (length.shape[0],), generator=gen)
    at = edge_cutoff.clone()
    for _ in range(2):  # nextafter, |steps| times, toward +-inf
        up = steps > 0
        down = steps < 0
        at = torch.where(up, torch.nextafter(at, torch.full_like(at, 1e9)), at)
        at = torch.where(down, torch.nextafter(at, torch.full_like(at, -1e9)), at)
        steps = steps - up.long() + down.long()
    return torch.where(pick, at, length)


@pytest.mark.parametrize("rule", EDGE_RULES)
@pytest.mark.parametrize(
    "length_dtype,cutoff_dtype",
    [
        (torch.float64, torch.float64),
        (torch.float32, torch.float32),
        (torch.float64, torch.float32),
        (torch.float32, torch.float64),
    ],
)
def test_prune_equals_the_plain_mask(rule, length_dtype, cutoff_dtype):
    gen = torch.Generator().manual_seed(1)
    for seed in range(3):
        edge_index, edge_shift, length, cutoff = _random_graph(seed)
        cutoff = cutoff.to(cutoff_dtype)
        length = _on_the_boundary(edge_index, length.to(length_dtype), cutoff, rule, gen)
        expected = _reference(edge_index, edge_shift, length, cutoff, rule)
        gap = length.double() - compute_edge_cutoff(cutoff, edge_index, rule).double()
        assert int((gap.abs() < 1e-6).sum()) > 500  # the hard cases are there, on both sides
        assert int(((gap < 0) & (gap > -1e-6)).sum()) > 100
        got = prune_edges(
            edge_index,
            compact_shift(edge_shift),
            length,
            cutoff,
            lambda c, e: compute_edge_cutoff(c, e, rule),
            length_lower_bound(length),
        )
        assert torch.equal(got[0], expected[0])
        assert torch.equal(got[1].long(), expected[1]) and got[1].dtype == torch.int8
        assert torch.equal(got[2], expected[2]) and got[2].dtype == cutoff_dtype
        assert torch.equal(got[3], expected[3])


def test_prune_without_a_cached_bound_and_gradients():
    edge_index, edge_shift, length, cutoff = _random_graph(7)
    cutoff.requires_grad_(True)
    rule = "geometric"
    got = prune_edges(
        edge_index, edge_shift, length, cutoff, lambda c, e: compute_edge_cutoff(c, e, rule)
    )
    expected = _reference(edge_index, edge_shift, length, cutoff, rule)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    weights = torch.linspace(0.0, 1.0, got[2].shape[0], dtype=torch.float64)
    (g_got,) = torch.autograd.grad((got[2] * weights).sum(), cutoff)
    (g_ref,) = torch.autograd.grad((expected[2] * weights).sum(), cutoff)
    torch.testing.assert_close(g_got, g_ref)


def test_prune_keeps_nothing_and_everything():
    edge_index, edge_shift, length, cutoff = _random_graph(3)
    fn = lambda c, e: compute_edge_cutoff(c, e, "mean")  # noqa: E731
    none = prune_edges(edge_index, edge_shift, length + 10.0, cutoff, fn)
    assert none[0].shape == (2, 0) and none[1].shape == (0, 3) and none[2].shape == (0,)
    every = prune_edges(edge_index, edge_shift, length * 0.0, cutoff, fn)
    assert torch.equal(every[0], edge_index) and torch.equal(every[1], edge_shift)


def test_length_bound_and_compact_shift():
    length = torch.tensor([1e-3, 1.0, 4.999999, 6.0], dtype=torch.float64)
    bound = length_lower_bound(length)
    assert bound.dtype == torch.float32
    assert (bound.double() <= length * (1 - 2.0**-21)).all()
    assert (bound.double() >= length * (1 - 2.0**-19)).all()
    shift = torch.tensor([[0, -127, 127], [1, 2, 3]])
    assert compact_shift(shift).dtype == torch.int8
    assert compact_shift(shift * 2).dtype == torch.int16
    assert compact_shift(shift * 1000).dtype == torch.int32
    assert compact_shift(shift * 10**8).dtype == torch.int64
    assert torch.equal(compact_shift(shift * 1000).long(), shift * 1000)
    assert compact_shift(torch.zeros(0, 3, dtype=torch.long)).shape == (0, 3)


@pytest.mark.parametrize("rule", EDGE_RULES)
def test_prune_pairs_equals_prune_edges_on_the_full_list(rule):
    gen = torch.Generator().manual_seed(5)
    pairs, shifts, lengths, cutoff = _random_graph(11)
    keep = pairs[0] != pairs[1]  # pairs of distinct atoms (any shift) and an atom's own images
    pairs, shifts, lengths = pairs[:, keep], shifts[keep], lengths[keep]
    lengths = _on_the_boundary(pairs, lengths, cutoff, "mean", gen)
    cutoff.requires_grad_(True)
    full_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    full_shift = torch.cat([shifts, -shifts])
    full_length = torch.cat([lengths, lengths])

    def fn(c, e):
        return compute_edge_cutoff(c, e, rule)

    expected = prune_edges(full_index, full_shift, full_length, cutoff, fn)
    got = prune_pairs(
        pairs, compact_shift(shifts), lengths, cutoff, fn, symmetric=rule != "receiver"
    )

    def table(result):
        index, shift, edge_cutoff, length = result
        return sorted(
            zip(
                index[1].tolist(),
                index[0].tolist(),
                map(tuple, shift.long().tolist()),
                edge_cutoff.tolist(),
                length.tolist(),
            )
        )

    assert table(got) == table(expected)
    (g_got,) = torch.autograd.grad(got[2].sum(), cutoff)
    (g_ref,) = torch.autograd.grad(expected[2].sum(), cutoff)
    torch.testing.assert_close(g_got, g_ref)
