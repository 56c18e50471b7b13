"""Edge rules: the cutoff of an edge from the per-atom cutoffs of its two atoms.

An edge ``j -> i`` (``edge_index[0] = j`` neighbour, ``edge_index[1] = i`` centre) exists iff
``r_ij < edge_cutoff``. The rules:

========== =====================================================
rule       ``edge_cutoff``
========== =====================================================
mean       ``(r_c^(i) + r_c^(j)) / 2`` (the FCL paper's default)
receiver   ``r_c^(i)``, the centre's cutoff (directed graph)
min        ``min(r_c^(i), r_c^(j))``
max        ``max(r_c^(i), r_c^(j))``
geometric  ``sqrt(r_c^(i) r_c^(j))``
========== =====================================================

Every rule gives ``edge_cutoff <= max(r_c^(i), r_c^(j)) <= r_max``, so a graph searched once at
``r_max`` holds every edge of any pruned graph.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["EDGE_RULES", "check_edge_rule", "compute_edge_cutoff"]

EDGE_RULES: tuple[str, ...] = ("mean", "receiver", "min", "max", "geometric")


def check_edge_rule(rule: str) -> str:
    """Return ``rule`` if it is one of :data:`EDGE_RULES`, else raise ``ValueError``."""
    if rule not in EDGE_RULES:
        raise ValueError(f"unknown edge rule {rule!r}; valid rules are {', '.join(EDGE_RULES)}")
    return rule


def compute_edge_cutoff(cutoff: Tensor, edge_index: Tensor, rule: str = "mean") -> Tensor:
    """Cutoff of every edge from the per-atom cutoffs, differentiable in ``cutoff``.

    Args:
        cutoff (Tensor): ``[num_nodes]`` per-atom cutoffs (a 0-d tensor means one value for all).
        edge_index (Tensor): ``[2, num_edges]``, ``edge_index[0] = j`` neighbour,
            ``edge_index[1] = i`` centre.
        rule (str): one of :data:`EDGE_RULES` (default ``"mean"``).

    Returns:
        Tensor: ``[num_edges]`` edge cutoffs, dtype of ``cutoff``.
    """
    check_edge_rule(rule)
    if cutoff.dim() == 0:
        c_i = c_j = cutoff.expand(edge_index.size(1))
    else:
        # index_select: ~5x faster than advanced indexing for this gather (measured on CPU)
        c_j = cutoff.index_select(0, edge_index[0])
        c_i = cutoff.index_select(0, edge_index[1])
    if rule == "mean":
        return (c_i + c_j).mul_(0.5)  # in place: one edge-sized tensor fewer
    if rule == "receiver":
        return c_i
    if rule == "min":
        return torch.minimum(c_i, c_j)
    if rule == "max":
        return torch.maximum(c_i, c_j)
    return torch.sqrt(c_i * c_j)  # geometric
