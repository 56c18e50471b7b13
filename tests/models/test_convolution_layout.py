"""The degree-bucketed per-receiver layout of FCL-MACE's convolution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from e3nn import o3

from pyg_fcl_models.convolution import ChannelwiseConvolution, Neighborhood, _choose_buckets


def _brute_buckets(degree: np.ndarray, bucket_cost: float, max_buckets: int) -> float:
    """Smallest ``slots + bucket_cost * buckets`` over all splits of the distinct degrees."""
    values = sorted(set(degree.tolist()))
    counts = [int((degree == v).sum()) for v in values]
    best = math.inf
    for b in range(1, min(max_buckets, len(values)) + 1):
        for cuts in itertools.combinations(range(1, len(values)), b - 1):
            bounds = [0, *cuts, len(values)]
            slots = sum(sum(counts[s:e]) * values[e - 1] for s, e in zip(bounds[:-1], bounds[1:]))
            best = min(best, slots + bucket_cost * b)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_bucket_choice_is_optimal(seed):
    rng = np.random.default_rng(seed)
    degree = np.sort(rng.integers(1, 14, size=int(rng.integers(1, 60))))[::-1]  # <= 13 values
    for bucket_cost, max_buckets in [(0.0, 4), (16.0, 8), (1e9, 8), (5.0, 1)]:
        buckets = _choose_buckets(degree, bucket_cost, max_buckets)
        assert sum(n for n, _ in buckets) == degree.size
        assert [d for _, d in buckets] == sorted({d for _, d in buckets}, reverse=True)
        # every receiver fits its bucket: the k-th largest degree <= its bucket's width
        widths = np.repeat([d for _, d in buckets], [n for n, _ in buckets])
        assert (degree <= widths).all()
        total = sum(n * d for n, d in buckets) + bucket_cost * len(buckets)
        assert total == pytest.approx(_brute_buckets(degree, bucket_cost, max_buckets))


def test_layout_places_every_edge_once_in_its_receivers_row():
    gen = torch.Generator().manual_seed(0)
    num_nodes, num_edges = 40, 600
    receiver = (torch.rand(num_edges, generator=gen) ** 2 * (num_nodes - 3)).long()  # skewed
    sender = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    nbr = Neighborhood.from_edges(sender, receiver, num_nodes, bucket_cost=0.0)
    assert len(nbr.buckets) > 1
    assert nbr.num_slots == sum(n * d for n, d in nbr.buckets) >= num_edges
    assert torch.unique(nbr.slot).numel() == num_edges
    edge_id = nbr.pad(torch.arange(num_edges, dtype=torch.float64) + 1).long() - 1  # -1: padding
    seen = []
    for block_ids, block_senders, rows in zip(
        nbr.blocks(edge_id),
        nbr.blocks(nbr.sender),
        torch.split(nbr.nodes, [n for n, _ in nbr.buckets]),
    ):
        for ids, senders, node in zip(block_ids, block_senders, rows.tolist()):
            real = ids[ids >= 0]
            assert (receiver[real] == node).all() and torch.equal(sender[real], senders[ids >= 0])
            assert (senders[ids < 0] == 0).all()
            seen += real.tolist()
    assert sorted(seen) == list(range(num_edges))
    # receivers without edges are not in the layout and get zeros
    assert set(nbr.nodes.tolist()) == set(receiver.tolist())
    out = nbr.to_nodes(torch.ones(nbr.nodes.numel(), 2))
    assert torch.equal(
        out[:, 0], torch.bincount(receiver, minlength=num_nodes).clamp(max=1).float()
    )


def test_bucketed_convolution_equals_single_padding():
    # one bucket padded to the largest degree (the previous layout) and many buckets agree to
    # float64 round-off, in values and in first and second derivatives
    torch.manual_seed(3)
    irreps_node = o3.Irreps("3x0e + 3x1o")
    irreps_target = o3.Irreps("3x0e + 3x1o + 3x2e")
    conv = ChannelwiseConvolution(irreps_node, 2, irreps_target).double()
    num_nodes, num_edges = 30, 400
    receiver = (torch.rand(num_edges) ** 3 * (num_nodes - 2)).long()  # skewed degrees
    sender = torch.randint(0, num_nodes, (num_edges,))
    h = torch.randn(num_nodes, irreps_node.dim, dtype=torch.float64, requires_grad=True)
    sh = torch.randn(num_edges, 9, dtype=torch.float64)
    w = torch.randn(num_edges, conv.weight_numel, dtype=torch.float64, requires_grad=True)
    results = []
    for bucket_cost, max_buckets in [(0.0, 1), (0.0, 8)]:
        nbr = Neighborhood.from_edges(sender, receiver, num_nodes, bucket_cost, max_buckets)
        assert len(nbr.buckets) == max_buckets
        out = conv(h, nbr.pad(sh), nbr.pad(w), nbr)
        (g_h,) = torch.autograd.grad(out.square().sum(), h, create_graph=True)
        (g_w,) = torch.autograd.grad(g_h.square().sum(), w)
        results.append((out, g_h, g_w))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert float(results[0][0][-2:].detach().abs().max()) == 0.0  # the last two nodes have no edges
