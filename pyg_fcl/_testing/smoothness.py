"""Smoothness at the cutoffs, and exactness of pruning.

Continuity is tested without a scale: for a continuous quantity ``q`` the jump
``J(d) = |q(x* + d) - q(x* - d)|`` across the crossing point ``x*`` shrinks in proportion to
``d``, while a discontinuity keeps it at the size of the step. The checks demand
``J(d_small) <= atol + max_ratio * J(d_large)`` (with ``d_small / d_large = 1/100`` by default a
continuous ``q`` gives a ratio near ``0.01``, a step a ratio near 1), for the energy and for
every force component.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor

from ..neighbors import edge_vectors, radius_graph
from ..transforms import compute_edge_cutoff
from .structures import Structure, as_structure, close, model_dtype, run, tolerances

__all__ = ["assert_smooth_at_edge_cutoff", "assert_smooth_in_cutoff", "assert_pruning_exact"]

# (d_large, d_small, atol) per dtype
_SMOOTH = {torch.float64: (1e-3, 1e-5, 1e-9), torch.float32: (3e-2, 3e-3, 1e-4)}


def _r_max_graph(model, s: Structure) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``edge_index``, ``vec`` ``[E, 3]``, ``length`` ``[E]``, ``edge_cutoff`` ``[E]`` at r_max."""
    batch = torch.zeros(s.num_atoms, dtype=torch.long)
    edge_index, shift = radius_graph(
        s.pos, float(model.r_max), batch=batch, cell=s.cell[None], pbc=s.pbc[None]
    )
    vec = edge_vectors(s.pos, edge_index, shift, s.cell[None], batch)
    edge_cutoff = compute_edge_cutoff(s.cutoff, edge_index, getattr(model, "edge_rule", "mean"))
    return edge_index, vec, vec.norm(dim=-1), edge_cutoff


def _deltas(model, deltas) -> tuple[float, float, float]:
    d_large, d_small, atol = _SMOOTH.get(model_dtype(model), _SMOOTH[torch.float32])
    if deltas is not None:
        d_large, d_small = (float(d) for d in deltas)
    if not 0 < d_small < d_large:
        raise ValueError(f"deltas must be (large, small) with 0 < small < large, got {deltas}")
    return d_large, d_small, atol


def _assert_continuous(model, where: str, evaluate, deltas, max_ratio: float, atol) -> None:
    d_large, d_small, default_atol = _deltas(model, deltas)
    atol = default_atol if atol is None else atol
    jumps = {}
    for d in (d_large, d_small):
        plus, minus = evaluate(d), evaluate(-d)
        jumps[d] = {
            "energy": (plus["energy"] - minus["energy"]).abs().max(),
            "forces": (plus["forces"] - minus["forces"]).abs().max(),
        }
    for key in ("energy", "forces"):
        small, large = float(jumps[d_small][key]), float(jumps[d_large][key])
        if not small <= atol + max_ratio * large:
            raise AssertionError(
                f"{where}: {key} is discontinuous: jump {small:.3g} across +-{d_small:g} vs "
                f"{large:.3g} across +-{d_large:g} (a continuous {key} shrinks the jump "
                f"~{d_large / d_small:g}x; allowed {atol:g} + {max_ratio:g} x {large:.3g})"
            )


def assert_smooth_at_edge_cutoff(
    model, structure, cutoff=None, *, deltas=None, max_ratio: float = 0.1, atol=None
) -> None:
    """Energy and forces are continuous as a neighbour crosses its edge cutoff.

    The pair ``(i, j)`` whose distance is closest to its edge cutoff ``r_ij^c`` is chosen; atom
    ``j`` is moved along ``r_ij`` to the distances ``r_ij^c +- d``, so the edge is in the pruned
    graph on one side and not on the other.
    """
    s = as_structure(model, structure, cutoff)
    edge_index, vec, length, edge_cutoff = _r_max_graph(model, s)
    candidates = (edge_index[0] != edge_index[1]).nonzero().squeeze(1)
    if candidates.numel() == 0:
        raise ValueError(f"{s.name}: no pair of distinct atoms within r_max")
    e = int(candidates[torch.argmin((length - edge_cutoff)[candidates].abs())])
    j, i = (int(v) for v in edge_index[:, e])
    unit = vec[e] / length[e]
    target = float(edge_cutoff[e])

    def evaluate(d: float) -> dict:
        pos = s.pos.clone()
        pos[j] = pos[j] + (target + d - float(length[e])) * unit
        return run(model, s.with_(pos=pos))

    where = f"{s.name}: atom {j} crossing the edge cutoff {target:.4f} of centre {i}"
    _assert_continuous(model, where, evaluate, deltas, max_ratio, atol)


def _crossing_cutoffs(model, s: Structure, edge_index: Tensor, length: Tensor) -> Tensor:
    """For each edge, the cutoff of its centre ``i`` at which ``edge_cutoff == length`` (bisection
    of the model's edge rule, monotone in each atom's cutoff); NaN where there is none."""
    rule = getattr(model, "edge_rule", "mean")
    num = edge_index.shape[1]
    pair = torch.stack([torch.arange(1, 2 * num, 2), torch.arange(0, 2 * num, 2)])  # j -> i

    def edge_cut(x: Tensor) -> Tensor:
        cut = torch.stack([x, s.cutoff[edge_index[0]]], dim=1).reshape(-1)
        return compute_edge_cutoff(cut, pair, rule)

    lo = torch.full_like(length, 1e-3)
    hi = torch.full_like(length, float(model.r_max))
    valid = (edge_cut(lo) < length) & (edge_cut(hi) > length)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = edge_cut(mid) < length
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return torch.where(valid, 0.5 * (lo + hi), torch.full_like(lo, float("nan")))


def assert_smooth_in_cutoff(
    model, structure, cutoff=None, *, deltas=None, max_ratio: float = 0.1, atol=None
) -> None:
    """Energy and forces are continuous as an atom's cutoff sweeps past a neighbour.

    Positions stay fixed; the cutoff of a centre ``i`` is set so that the edge cutoff of one of
    its edges (the one needing the smallest change) equals the edge length, plus or minus ``d``.
    """
    s = as_structure(model, structure, cutoff)
    edge_index, _, length, _ = _r_max_graph(model, s)
    distinct = edge_index[0] != edge_index[1]
    crossing = _crossing_cutoffs(model, s, edge_index, length)
    margin = 2 * _deltas(model, deltas)[0]
    ok = (
        distinct
        & ~crossing.isnan()
        & (crossing + margin <= float(model.r_max))
        & (crossing > margin)
    )
    if not bool(ok.any()):
        raise ValueError(f"{s.name}: no edge whose cutoff can be swept inside (0, r_max]")
    change = torch.where(ok, (crossing - s.cutoff[edge_index[1]]).abs(), float("inf"))
    e = int(torch.argmin(change))
    i, star = int(edge_index[1, e]), float(crossing[e])

    def evaluate(d: float) -> dict:
        cut = s.cutoff.clone()
        cut[i] = star + d
        return run(model, s, cutoff=cut)

    where = (
        f"{s.name}: cutoff of atom {i} sweeping {star:.4f} past neighbour {int(edge_index[0, e])}"
    )
    _assert_continuous(model, where, evaluate, deltas, max_ratio, atol)


def _run_unpruned(model, s: Structure, stress: bool) -> dict:
    if "prune" in inspect.signature(model.forward).parameters:
        return run(model, s, stress, prune=False)
    # models whose forward has no ``prune``: make FCLModel.prepare keep the r_max graph
    original = model.prepare
    model.prepare = lambda data, prune=True: original(data, prune=False)
    try:
        return run(model, s, stress)
    finally:
        del model.prepare


def assert_pruning_exact(model, structure, cutoff=None, *, atol=None, rtol=None) -> None:
    """An edge at or beyond its edge cutoff contributes exactly nothing: the pruned graph gives
    what the unpruned ``r_max`` graph gives with the same cutoffs applied by the envelope alone
    (energies, forces, stress; ``FCLModel.prepare(data, prune=False)``)."""
    s = as_structure(model, structure, cutoff)
    _, _, length, edge_cutoff = _r_max_graph(model, s)
    pruned = int((length >= edge_cutoff).sum())
    if pruned == 0:
        raise ValueError(
            f"{s.name}: no edge is pruned at these cutoffs; the check would be vacuous"
        )
    atol, rtol = tolerances(model, atol, rtol)
    ref = run(model, s, s.periodic)
    out = _run_unpruned(model, s, s.periodic)
    where = (
        f"{s.name}: r_max graph ({pruned} of {length.numel()} edges past their cutoff) vs pruned"
    )
    for key in ("energy", "node_energy", "forces", "stress"):
        if key in ref and key in out:
            close(key, out[key], ref[key], atol, rtol, where)
