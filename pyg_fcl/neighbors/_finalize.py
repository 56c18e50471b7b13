"""Turns a backend's candidate pairs into the exact, canonically ordered edge list.

Backends search at a radius a hair above ``r_max`` and may compute distances their own way. The
final decision ``|vec| < r_max`` is taken here with one formula for every backend (float64,
``vec = pos[j] - pos[i] + shift @ cell``), so all backends return the same edges even for pairs
at the cutoff up to rounding. When a backend reports its own distances, only the candidates
within a relative ``BAND`` of the cutoff are recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._validation import Inputs

__all__ = ["Candidates", "BAND", "search_radius", "finalize"]

# Relative margin of the search radius and of the re-checked band around the cutoff. Float64
# rounding of an edge vector is ~1e-16 of the coordinates, far inside this margin.
BAND = 1e-9


def search_radius(r_max: float) -> float:
    """Radius at which backends look for candidates (slightly above ``r_max``)."""
    return r_max * (1.0 + BAND)


@dataclass
class Candidates:
    """Candidate pairs from a backend; a superset of the edges within ``r_max``.

    Attributes:
        i (Tensor): ``[E]`` long, centre (global atom index).
        j (Tensor): ``[E]`` long, neighbour (global atom index).
        shift (Tensor): ``[E, 3]`` long, ``vec = pos[j] - pos[i] + shift @ cell[batch[i]]``.
        dist (Tensor, optional): ``[E]`` float64 distances as computed by the backend.
    """

    i: Tensor
    j: Tensor
    shift: Tensor
    dist: Tensor | None = None


def _canonical_distance(inputs: Inputs, i: Tensor, j: Tensor, shift: Tensor) -> Tensor:
    pos = inputs.pos
    vec = pos.index_select(0, j) - pos.index_select(0, i)
    shift = shift.to(pos.dtype)
    if inputs.num_graphs == 1:
        vec = vec + shift @ inputs.cell[0]
    else:
        cell = inputs.cell.index_select(0, inputs.batch.index_select(0, i))
        vec = vec + torch.einsum("ek,ekl->el", shift, cell)
    return torch.linalg.vector_norm(vec, dim=-1)


def _drop_mask(cand: Candidates, inputs: Inputs) -> Tensor | None:
    """Boolean ``[E]`` mask of candidates to drop, or ``None`` when nothing is dropped."""
    r = inputs.r_max
    if cand.dist is None:
        drop = _canonical_distance(inputs, cand.i, cand.j, cand.shift) >= r
    else:
        drop = torch.zeros_like(cand.i, dtype=torch.bool)
        near = (cand.dist >= r * (1.0 - BAND)).nonzero().squeeze(1)
        if near.numel() > 0:
            d = _canonical_distance(
                inputs,
                cand.i.index_select(0, near),
                cand.j.index_select(0, near),
                cand.shift.index_select(0, near),
            )
            drop[near] = d >= r
    same = cand.i == cand.j
    if bool(same.any()):
        drop |= same & (cand.shift == 0).all(-1)
    return drop if bool(drop.any()) else None


def _bits(n: int) -> int:
    """Bits needed to store the integers ``0 .. n - 1``."""
    return max(1, (n - 1).bit_length())


def _sort(i: Tensor, j: Tensor, shift: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Sorts edges by (i, j, shift) lexicographically.

    The fields are packed into one non-negative int64 key (bit fields, so that packing and
    unpacking are shifts and masks), sorted once, and unpacked; two stable sorts are the fallback
    when the key would not fit in 63 bits.
    """
    lo = shift.amin(0)
    span = (shift.amax(0) - lo + 1).tolist()
    b0, b1, b2 = (_bits(n) for n in span)
    bn = _bits(num_nodes)
    bs = b0 + b1 + b2
    rel = shift - lo
    if 2 * bn + bs <= 63:
        key = (
            (i << (bn + bs)) | (j << bs) | (rel[:, 0] << (b1 + b2)) | (rel[:, 1] << b2) | rel[:, 2]
        )
        key = torch.sort(key).values
        i = key >> (bn + bs)
        j = (key >> bs) & ((1 << bn) - 1)
        rel = torch.stack(
            [
                (key >> (b1 + b2)) & ((1 << b0) - 1),
                (key >> b2) & ((1 << b1) - 1),
                key & ((1 << b2) - 1),
            ],
            dim=1,
        )
        return i, j, rel + lo
    code = (rel[:, 0] * span[1] + rel[:, 1]) * span[2] + rel[:, 2]
    perm = torch.argsort(code, stable=True)
    pair = (i * num_nodes + j).index_select(0, perm)
    perm = perm.index_select(0, torch.argsort(pair, stable=True))
    return i.index_select(0, perm), j.index_select(0, perm), shift.index_select(0, perm)


def finalize(cand: Candidates, inputs: Inputs) -> tuple[Tensor, Tensor]:
    """Applies the exact cutoff, removes self pairs, and sorts.

    Args:
        cand (Candidates): backend output.
        inputs (Inputs): validated arguments.

    Returns:
        tuple[Tensor, Tensor]: ``edge_index`` ``[2, E]`` (row 0 neighbour ``j``, row 1 centre
        ``i``) and ``edge_shift`` ``[E, 3]``, both long, sorted by ``(i, j, shift)``.
    """
    i, j, shift = cand.i.long(), cand.j.long(), cand.shift.long()
    if i.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=inputs.pos.device)
        return torch.stack([empty, empty]), empty.view(0, 3)
    drop = _drop_mask(Candidates(i, j, shift, cand.dist), inputs)
    if drop is not None:
        keep = (~drop).nonzero().squeeze(1)
        i, j, shift = i.index_select(0, keep), j.index_select(0, keep), shift.index_select(0, keep)
        if i.numel() == 0:
            return torch.stack([i, j]), shift
    i, j, shift = _sort(i, j, shift, inputs.num_nodes)
    return torch.stack([j, i]), shift
