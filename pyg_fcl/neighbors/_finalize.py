"""Turns a backend's candidate pairs into the exact edge list, canonically ordered on request.

Backends search at a radius a hair above ``r_max`` and may compute distances their own way. The
final decision ``|vec| < r_max`` is taken here with one formula for every backend (float64,
``vec = pos[j] - pos[i] + s_0 a_0 + s_1 a_1 + s_2 a_2`` evaluated elementwise), so all backends
return the same edges even for pairs at the cutoff up to rounding. When a backend reports its own
distances, only the candidates within a relative ``BAND`` of the cutoff are recomputed.

A backend may return a half list (each unordered pair once); the reverse edges ``(j, i, -shift)``
are then added here (appended after the forward edges, or as one extra key per edge in the
sort). Reversal negates the edge vector exactly, so the cutoff decision is the same in both
directions.

Sorting by ``(i, j, shift)`` is optional (``sort=True``): it makes every backend return the very
same tensors, but costs ~30-100 % of vesin's own search time, which training and MD do not need
(the model groups edges by receiver itself). Unsorted output is still deterministic: it is the
backend's order, filtered, then the reverse edges of a half list in the same order.
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
        shift (Tensor): ``[E, 3]`` integer, ``vec = pos[j] - pos[i] + shift @ cell[batch[i]]``.
        dist (Tensor, optional): ``[E]`` float64 distances as computed by the backend.
        half (bool): each unordered pair appears once; reverse edges are still to be added.
    """

    i: Tensor
    j: Tensor
    shift: Tensor
    dist: Tensor | None = None
    half: bool = False


def _canonical_distance(inputs: Inputs, i: Tensor, j: Tensor, shift: Tensor) -> Tensor:
    pos = inputs.pos
    vec = pos.index_select(0, j) - pos.index_select(0, i)
    if inputs.num_graphs == 1:
        cell = inputs.cell[0].unsqueeze(0)  # [1, 3, 3]
    else:
        cell = inputs.cell.index_select(0, inputs.batch.index_select(0, i))  # [E, 3, 3]
    shift = shift.to(pos.dtype)
    # Elementwise (no BLAS): the same rounding for every row, exactly odd under reversal.
    lattice = shift[:, 0:1] * cell[:, 0] + shift[:, 1:2] * cell[:, 1] + shift[:, 2:3] * cell[:, 2]
    return torch.linalg.vector_norm(vec + lattice, dim=-1)


def _keep_index(cand: Candidates, inputs: Inputs) -> Tensor | None:
    """Indices of the candidates to keep, or ``None`` when all are kept."""
    r = inputs.r_max
    if cand.dist is None:
        drop = _canonical_distance(inputs, cand.i, cand.j, cand.shift) >= r
    else:
        drop = None
        near = (cand.dist >= r * (1.0 - BAND)).nonzero().squeeze(1)
        if near.numel() > 0:
            d = _canonical_distance(
                inputs,
                cand.i.index_select(0, near),
                cand.j.index_select(0, near),
                cand.shift.index_select(0, near),
            )
            drop = torch.zeros_like(cand.i, dtype=torch.bool)
            drop[near] = d >= r
    same = cand.i == cand.j
    if bool(same.any()):
        self_pair = same & (cand.shift == 0).all(-1)
        drop = self_pair if drop is None else drop | self_pair
    if drop is None or not bool(drop.any()):
        return None
    return (~drop).nonzero().squeeze(1)


def _bits(n: int) -> int:
    """Bits needed to store the integers ``0 .. n - 1``."""
    return max(1, (n - 1).bit_length())


def _pack(i: Tensor, j: Tensor, shift: Tensor, lo: list[int], bits, out: Tensor) -> None:
    """Writes ``key = i | j | s0 | s1 | s2`` (bit fields, most significant first) into ``out``."""
    bn, b0, b1, b2 = bits
    # (s - lo) << b == (s << b) - (lo << b): the shift code in the narrow input dtype, then one
    # constant offset.
    code = (shift[:, 0] << (b1 + b2)) + (shift[:, 1] << b2) + shift[:, 2]
    torch.bitwise_left_shift(i, bn + b0 + b1 + b2, out=out)
    out |= j << (b0 + b1 + b2)
    out += code
    out -= (lo[0] << (b1 + b2)) + (lo[1] << b2) + lo[2]


def _sort(
    i: Tensor, j: Tensor, shift: Tensor, num_nodes: int, mirror: bool = False
) -> tuple[Tensor, Tensor]:
    """Sorts edges by (i, j, shift) lexicographically, optionally adding reverse edges.

    The fields are packed into one non-negative int64 key (bit fields, so that packing and
    unpacking are shifts and masks) and sorted once; two stable sorts are the fallback when the
    key would not fit in 63 bits.

    Returns:
        tuple[Tensor, Tensor]: ``edge_index`` ``[2, E]`` (``[j, i]``) and ``edge_shift`` ``[E, 3]``.
    """
    if mirror:
        reach = shift.abs().amax(0).tolist()
        lo, hi = [-s for s in reach], reach
    else:
        lo, hi = shift.amin(0).tolist(), shift.amax(0).tolist()
    span = [h - l + 1 for l, h in zip(lo, hi)]
    bits = (_bits(num_nodes), _bits(span[0]), _bits(span[1]), _bits(span[2]))
    bn, b0, b1, b2 = bits
    if 2 * bn + b0 + b1 + b2 > 63:
        if mirror:
            i, j, shift = torch.cat([i, j]), torch.cat([j, i]), torch.cat([shift, -shift])
        return _sort_two_pass(i, j, shift.long(), num_nodes)
    if b0 + b1 + b2 > 30:  # the shift code would overflow a 32-bit shift tensor
        shift = shift.long()
    e = i.shape[0]
    key = torch.empty(2 * e if mirror else e, dtype=torch.long, device=i.device)
    _pack(i, j, shift, lo, bits, key[:e])
    if mirror:
        _pack(j, i, -shift, lo, bits, key[e:])
    key = torch.sort(key, stable=True).values  # stable: integer radix sort on CPU
    bs = b0 + b1 + b2
    edge_index = torch.empty(2, key.shape[0], dtype=torch.long, device=key.device)
    torch.bitwise_right_shift(key, bn + bs, out=edge_index[1])
    torch.bitwise_and(key >> bs, (1 << bn) - 1, out=edge_index[0])
    edge_shift = torch.empty(key.shape[0], 3, dtype=torch.long, device=key.device)
    for k, (offset, width) in enumerate([(b1 + b2, b0), (b2, b1), (0, b2)]):
        torch.bitwise_and(key >> offset, (1 << width) - 1, out=edge_shift[:, k])
        edge_shift[:, k] += lo[k]
    return edge_index, edge_shift


def _sort_two_pass(i: Tensor, j: Tensor, shift: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    lo = shift.amin(0)
    span = (shift.amax(0) - lo + 1).tolist()
    rel = shift - lo
    code = (rel[:, 0] * span[1] + rel[:, 1]) * span[2] + rel[:, 2]
    perm = torch.argsort(code, stable=True)
    pair = (i * num_nodes + j).index_select(0, perm)
    perm = perm.index_select(0, torch.argsort(pair, stable=True))
    edge_index = torch.stack([j.index_select(0, perm), i.index_select(0, perm)])
    return edge_index, shift.index_select(0, perm)


def _assemble(i: Tensor, j: Tensor, shift: Tensor, mirror: bool) -> tuple[Tensor, Tensor]:
    """``edge_index`` ``[2, E]`` (``[j, i]``) and long ``edge_shift`` ``[E, 3]`` in input order;
    with ``mirror`` the reverse edges ``(j, i, -shift)`` follow the forward ones."""
    e = i.shape[0]
    n = 2 * e if mirror else e
    edge_index = torch.empty(2, n, dtype=torch.long, device=i.device)
    edge_shift = torch.empty(n, 3, dtype=torch.long, device=i.device)
    edge_index[0, :e] = j
    edge_index[1, :e] = i
    edge_shift[:e] = shift
    if mirror:
        edge_index[0, e:] = i
        edge_index[1, e:] = j
        torch.neg(edge_shift[:e], out=edge_shift[e:])
    return edge_index, edge_shift


def _representative(i: Tensor, j: Tensor, shift: Tensor) -> Tensor:
    """``[E]`` bool: the edge is its pair's representative, ``i < j``, or ``i == j`` with the
    shift lexicographically positive (exactly one of ``(i, j, s)`` and ``(j, i, -s)``)."""
    s0, s1, s2 = shift.unbind(1)
    positive = (s0 > 0) | ((s0 == 0) & ((s1 > 0) | ((s1 == 0) & (s2 > 0))))
    return (i < j) | ((i == j) & positive)


def _pairs(i: Tensor, j: Tensor, shift: Tensor, half: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Each unordered pair once, as its representative (see :func:`_representative`)."""
    if not half:  # a full list holds both directions: keep the representatives
        keep = _representative(i, j, shift).nonzero().squeeze(1)
        return i.index_select(0, keep), j.index_select(0, keep), shift.index_select(0, keep)
    # a half list holds one direction of each pair (vesin's: i < j), turn the others around
    flip = i > j
    same = (i == j).nonzero().squeeze(1)  # an atom's own images: decided by the shift
    if same.numel() > 0:
        flip[same] = ~_representative(i[same], j[same], shift[same])
    turn = flip.nonzero().squeeze(1)
    if turn.numel() > 0:
        i, j, shift = i.clone(), j.clone(), shift.clone()
        i[turn], j[turn] = j[turn], i[turn]
        shift[turn] = -shift[turn]
    return i, j, shift


def finalize(
    cand: Candidates, inputs: Inputs, sort: bool = False, half: bool = False
) -> tuple[Tensor, Tensor]:
    """Applies the exact cutoff, removes self pairs, adds reverse edges of half lists (or keeps
    each pair once), and sorts on request.

    Args:
        cand (Candidates): backend output.
        inputs (Inputs): validated arguments.
        sort (bool): sort the edges by ``(i, j, shift)`` (default: the backend's order, then the
            reverse edges of a half list).
        half (bool): return each unordered pair once, as the edge with ``i < j`` (or ``i == j``
            and the shift lexicographically positive), instead of both directions.

    Returns:
        tuple[Tensor, Tensor]: ``edge_index`` ``[2, E]`` (row 0 neighbour ``j``, row 1 centre
        ``i``) and ``edge_shift`` ``[E, 3]``, both long.
    """
    i, j, shift = cand.i, cand.j, cand.shift
    keep = _keep_index(cand, inputs) if i.numel() > 0 else None
    if keep is not None:
        i, j, shift = i.index_select(0, keep), j.index_select(0, keep), shift.index_select(0, keep)
    if i.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=inputs.pos.device)
        return torch.stack([empty, empty]), empty.view(0, 3)
    mirror = cand.half
    if half:
        i, j, shift = _pairs(i, j, shift, cand.half)
        mirror = False
    if not sort:
        return _assemble(i, j, shift, mirror=mirror)
    return _sort(i.long(), j.long(), shift, inputs.num_nodes, mirror=mirror)
