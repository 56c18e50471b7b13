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

import math

import torch
from torch import Tensor

__all__ = ["EDGE_RULES", "check_edge_rule", "compute_edge_cutoff", "validate_cutoff"]

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
        return 0.5 * (c_i + c_j)
    if rule == "receiver":
        return c_i
    if rule == "min":
        return torch.minimum(c_i, c_j)
    if rule == "max":
        return torch.maximum(c_i, c_j)
    return torch.sqrt(c_i * c_j)  # geometric


def validate_cutoff(
    cutoff: Tensor | float,
    r_max: float,
    num_nodes: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    batch: Tensor | None = None,
    source: str = "cutoff",
) -> Tensor:
    """Check per-atom cutoffs and return them as a ``[num_nodes]`` tensor.

    Every value must be finite and lie in ``(0, r_max]``; ``r_max`` is compared in the cutoffs'
    own dtype, so ``float32(r_max)`` itself is accepted. Gradients flow through the result.

    Args:
        cutoff (Tensor or float): a scalar (Python number, 0-d or one-element tensor) for the same
            cutoff everywhere, or ``[num_nodes]`` per-atom cutoffs.
        r_max (float): largest allowed cutoff (Å).
        num_nodes (int): number of atoms.
        dtype (torch.dtype, optional): dtype of the result (default: that of ``cutoff``, or the
            default dtype for a Python number).
        device (torch.device, optional): device of the result (default: that of ``cutoff``).
        batch (Tensor, optional): ``[num_nodes]`` structure index of each atom, only used to
            name the structure (and the atom index inside it) in error messages.
        source (str): name of the input in error messages (e.g. ``"data.cutoff"``).

    Returns:
        Tensor: ``[num_nodes]`` cutoffs.

    Raises:
        ValueError: wrong shape, or a value that is not finite or outside ``(0, r_max]``; the
            message names the first offending value and its atom index.
    """
    if not math.isfinite(r_max) or r_max <= 0:
        raise ValueError(f"r_max must be a finite positive number, got r_max={r_max!r}")
    if not isinstance(cutoff, Tensor):
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)):
            raise ValueError(f"{source} must be a number or a tensor, got {type(cutoff).__name__}")
        cutoff = torch.tensor(float(cutoff), dtype=dtype or torch.get_default_dtype())
    if not cutoff.is_floating_point():
        cutoff = cutoff.to(dtype or torch.get_default_dtype())
    cutoff = cutoff.to(dtype=dtype or cutoff.dtype, device=device or cutoff.device)
    if cutoff.numel() == 1 and cutoff.dim() <= 1:
        cutoff = cutoff.reshape(()).expand(num_nodes).contiguous()
    elif tuple(cutoff.shape) != (num_nodes,):
        raise ValueError(
            f"{source} must be a scalar or have shape [num_nodes] = [{num_nodes}], "
            f"got shape {list(cutoff.shape)}"
        )
    values = cutoff.detach()
    r_max_t = torch.tensor(r_max, dtype=values.dtype, device=values.device)
    bad = ~(torch.isfinite(values) & (values > 0) & (values <= r_max_t))
    if bool(bad.any()):
        idx = int(bad.nonzero()[0, 0])
        value = float(values[idx])
        where = f"atom {idx}"
        if batch is not None:
            graph = int(batch[idx])
            local = idx - int((batch < graph).sum())
            where += f" (structure {graph}, atom {local} within it)"
        reason = "is not finite" if not math.isfinite(value) else f"is not in (0, r_max={r_max}]"
        raise ValueError(
            f"{source}[{idx}] = {value!r} {reason}: {where}; "
            f"{int(bad.sum())} of {num_nodes} atoms have invalid cutoffs"
        )
    return cutoff
