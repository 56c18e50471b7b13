"""Pruning a cached ``r_max`` graph to per-edge cutoffs, exactly, with float32 passes over it.

FCL searches once at ``r_max`` and then keeps, many times, the edges with
``edge_length < edge_cutoff``. The decision over all ``E_max`` listed pairs is the cost; this
module makes it in float32 (half the memory traffic of float64) without giving up exactness:

1. the cache stores, next to the lengths, a float32 *lower bound* ``length_bound <= length *
   (1 - 2^-21)`` (:func:`length_lower_bound`, computed once when the graph is built);
2. the edge cutoffs of all pairs are evaluated in float32 from float32 per-atom cutoffs; for every
   edge rule (mean, receiver, min, max, geometric) the float32 value is at least
   ``edge_cutoff * (1 - 2^-22)``, so ``length_bound < edge_cutoff32`` holds for every edge with
   ``length < edge_cutoff``: the float32 pass keeps a superset;
3. the few extra candidates (within ~1e-6 relative of their cutoff) are removed by the exact
   comparison ``length < edge_cutoff`` on the kept edges only, in the dtypes of the inputs (the
   same comparison as an unoptimised ``length < edge_cutoff`` mask), where the differentiable
   edge cutoffs have to be gathered anyway.

A cache of unordered pairs (each once, ``radius_graph(..., half=True)``) halves the work again
for the symmetric edge rules (all but ``receiver``): :func:`prune_pairs` decides once per pair
and writes both directions.

Shifts can be stored in the cache in the narrowest integer dtype that holds them
(:func:`compact_shift`, usually int8: 3 bytes per edge instead of 24), which makes their gather
~3x cheaper; consumers cast them to the float dtype of the positions anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["length_lower_bound", "compact_shift", "prune_edges", "prune_pairs"]

# float32(L * (1 - 2^-20)) <= L * (1 - 2^-20) * (1 + 2^-24) < L * (1 - 2^-21): a lower bound of
# the length with room for the float32 rounding of the edge cutoff (relative <= 3 * 2^-24).
_SHRINK = 1.0 - 2.0**-20


def length_lower_bound(edge_length: Tensor) -> Tensor:
    """Float32 lower bounds of edge lengths for :func:`prune_edges` (compute once per cache).

    Args:
        edge_length (Tensor): ``[E]`` lengths (float32 or float64).

    Returns:
        Tensor: ``[E]`` float32, ``<= edge_length * (1 - 2^-21)`` elementwise.
    """
    return (edge_length.detach().double() * _SHRINK).float()


def compact_shift(edge_shift: Tensor) -> Tensor:
    """The integer shifts ``[E, 3]`` in the narrowest of int8/int16/int32/int64 holding them."""
    if edge_shift.numel() == 0:
        return edge_shift.to(torch.int8)
    reach = int(edge_shift.abs().max())
    for dtype in (torch.int8, torch.int16, torch.int32):
        if reach <= torch.iinfo(dtype).max:
            return edge_shift.to(dtype)
    return edge_shift.long()


def prune_edges(
    edge_index: Tensor,
    edge_shift: Tensor,
    edge_length: Tensor,
    cutoff: Tensor,
    edge_cutoff_fn: Callable[[Tensor, Tensor], Tensor],
    length_bound: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The edges with ``edge_length < edge_cutoff``, decided in float32 and checked exactly.

    Returns exactly the edges (in their cached order) of the mask ``edge_length <
    edge_cutoff_fn(cutoff, edge_index)``, evaluated in the dtypes of ``edge_length`` and
    ``cutoff``; only the float32 pre-selection runs over every listed pair.

    Args:
        edge_index (Tensor): ``[2, E_max]`` cached pairs (``[0] = j`` neighbour, ``[1] = i``
            centre).
        edge_shift (Tensor): ``[E_max, 3]`` integer shifts (any integer dtype, e.g. compact).
        edge_length (Tensor): ``[E_max]`` cached lengths.
        cutoff (Tensor): ``[N]`` per-atom cutoffs (may require grad).
        edge_cutoff_fn (Callable): ``(cutoff [N], edge_index [2, E]) -> [E]``, one of the edge
            rules of :func:`pyg_fcl.graph.compute_edge_cutoff` (its float32 rounding bound is
            what makes the pre-selection safe).
        length_bound (Tensor, optional): ``[E_max]`` float32 :func:`length_lower_bound` of
            ``edge_length`` (computed here when absent: cache it to save a pass).

    Returns:
        tuple[Tensor, Tensor, Tensor, Tensor]: the kept ``edge_index`` ``[2, E]``,
        ``edge_shift`` ``[E, 3]`` (dtype of the input), ``edge_cutoff`` ``[E]`` (differentiable
        in ``cutoff``) and ``edge_length`` ``[E]``.
    """
    if length_bound is None:
        length_bound = length_lower_bound(edge_length)
    with torch.no_grad():
        cutoff32 = cutoff.detach().float()
        candidates = (length_bound < edge_cutoff_fn(cutoff32, edge_index)).nonzero().squeeze(1)
    kept_index = torch.stack(
        [edge_index[0].index_select(0, candidates), edge_index[1].index_select(0, candidates)]
    )
    edge_cutoff = edge_cutoff_fn(cutoff, kept_index)
    length = edge_length.index_select(0, candidates)
    exact = length < edge_cutoff.detach()
    if bool(exact.all()):
        return kept_index, edge_shift.index_select(0, candidates), edge_cutoff, length
    keep = exact.nonzero().squeeze(1)  # candidates within float32 rounding of their cutoff
    candidates = candidates.index_select(0, keep)
    return (
        kept_index.index_select(1, keep),
        edge_shift.index_select(0, candidates),
        edge_cutoff.index_select(0, keep),
        length.index_select(0, keep),
    )


def prune_pairs(
    pair_index: Tensor,
    pair_shift: Tensor,
    pair_length: Tensor,
    cutoff: Tensor,
    edge_cutoff_fn: Callable[[Tensor, Tensor], Tensor],
    length_bound: Tensor | None = None,
    symmetric: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The directed edges with ``edge_length < edge_cutoff`` from a list of unordered pairs.

    Every pair ``(j, i, shift)`` stands for two edges, itself and its reverse
    ``(i, j, -shift)`` (same length). The result is the edge set :func:`prune_edges` returns on
    the full list, in another order: the kept pairs as listed, then their reverses (for a
    ``symmetric`` rule); or the kept forward edges, then the kept reverse edges.

    Args:
        pair_index (Tensor): ``[2, P]`` each unordered pair once (``radius_graph(half=True)``).
        pair_shift (Tensor): ``[P, 3]`` integer shifts (any signed integer dtype).
        pair_length (Tensor): ``[P]`` lengths.
        cutoff (Tensor): ``[N]`` per-atom cutoffs (may require grad).
        edge_cutoff_fn (Callable): the edge rule, as for :func:`prune_edges`.
        length_bound (Tensor, optional): ``[P]`` float32 :func:`length_lower_bound`.
        symmetric (bool): the rule gives an edge and its reverse the same cutoff (mean, min, max,
            geometric; not receiver): one decision per pair.

    Returns:
        tuple[Tensor, Tensor, Tensor, Tensor]: ``edge_index`` ``[2, E]``, ``edge_shift``
        ``[E, 3]``, ``edge_cutoff`` ``[E]`` (differentiable in ``cutoff``), ``edge_length``
        ``[E]``.
    """
    if length_bound is None:
        length_bound = length_lower_bound(pair_length)
    if symmetric:
        index, shift, edge_cutoff, length = prune_edges(
            pair_index, pair_shift, pair_length, cutoff, edge_cutoff_fn, length_bound
        )
        k = index.shape[1]
        edge_index = torch.empty(2, 2 * k, dtype=index.dtype, device=index.device)
        edge_index[:, :k] = index
        edge_index[0, k:] = index[1]
        edge_index[1, k:] = index[0]
        return (
            edge_index,
            torch.cat([shift, -shift]),
            torch.cat([edge_cutoff, edge_cutoff]),
            torch.cat([length, length]),
        )
    forward = prune_edges(pair_index, pair_shift, pair_length, cutoff, edge_cutoff_fn, length_bound)
    backward = prune_edges(
        pair_index.flip(0), pair_shift, pair_length, cutoff, edge_cutoff_fn, length_bound
    )
    return (
        torch.cat([forward[0], backward[0]], dim=1),
        torch.cat([forward[1], -backward[1]]),
        torch.cat([forward[2], backward[2]]),
        torch.cat([forward[3], backward[3]]),
    )
