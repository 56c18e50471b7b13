"""The λ sweep around a :class:`~pyg_fcl.optim.CutoffOptimizer`: Pareto front and baselines.

:func:`pareto_sweep` optimizes at every ``λ`` (warm-started from the best earlier result),
evaluates each result with hard pruning and collects a :class:`~pyg_fcl.optim.ParetoFront`;
:func:`scan_global` is the brute-force baseline of global cutoffs; :func:`cover` completes a
per-element result for elements the target structures lacked. The optimizer itself only knows
one ``λ`` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch_geometric.data import Data

from ..graph import CutoffSpec
from .pareto import ParetoFront, ParetoPoint

if TYPE_CHECKING:
    from .optimizer import CutoffOptimizer

__all__ = ["pareto_sweep", "scan_global", "cover"]


def cover(spec: CutoffSpec, structures: Sequence[Data], r_max: float) -> CutoffSpec:
    """Give elements of ``structures`` that a per-element ``spec`` lacks the cutoff ``r_max``.

    Elements absent from the target structures got no gradient; ``r_max`` is the model's own
    trained default for them. The filled elements are listed in ``meta["filled"]``.
    """
    if spec.kind != "element":
        return spec
    present = {int(z) for s in structures for z in s.z.tolist()}
    missing = sorted(present - set(spec.elements))
    if not missing:
        return spec
    elements = {**spec.elements, **{z: r_max for z in missing}}
    meta = {**spec.meta, "filled": missing}
    return CutoffSpec.from_elements(elements, edge_rule=spec.edge_rule, r_max=spec.r_max, meta=meta)


def scan_global(
    optimizer: CutoffOptimizer,
    cutoffs: Sequence[float],
    structures: Sequence[Data] | None = None,
) -> list[dict]:
    """Brute-force baseline: hard-pruned evaluation at each global cutoff.

    Args:
        optimizer (CutoffOptimizer): gives the model, ``r_max`` and the target structures.
        cutoffs (list[float]): global cutoffs (Å), each in ``(0, r_max]``.
        structures: evaluation structures (default: the target structures).

    Returns:
        list[dict]: ``{"cutoff": c, **evaluate(c)}`` per cutoff.
    """
    out = []
    for c in cutoffs:
        if not 0 < float(c) <= optimizer.r_max:
            raise ValueError(f"global cutoff {c} is not in (0, r_max={optimizer.r_max}]")
        out.append({"cutoff": float(c), **optimizer.evaluate(float(c), structures)})
        if optimizer.progress is not None:
            optimizer.progress(
                f"global {float(c):.2f} A: {out[-1]['pairs_per_atom']:.1f} pairs/atom, "
                f"force RMSE {out[-1]['forces_rmse']:.4f} eV/A"
            )
    return out


def best_start(optimizer: CutoffOptimizer, starts: list, lam: float) -> list[float] | None:
    """The start (``None``: the initial cutoffs) with the lowest full objective at ``lam``."""
    if len(starts) == 1:
        return starts[0]
    scores = []
    for values in starts:
        param = optimizer.parametrization()
        if values is not None:
            param.set_values(values)
        scores.append(float(optimizer.full_objective(param, lam)[0].detach()))
    best = min(range(len(starts)), key=scores.__getitem__)
    if optimizer.progress is not None:
        which = "initial cutoffs" if best == 0 else f"result {best} of this sweep"
        optimizer.progress(
            f"lambda={lam:g}: warm start from {which} (objective {scores[best]:.5f})"
        )
    return starts[best]


def pareto_sweep(
    optimizer: CutoffOptimizer,
    lambdas: Sequence[float],
    eval_structures: Sequence[Data] | None = None,
    global_cutoffs: Sequence[float] = (),
    warm_start: bool = True,
) -> ParetoFront:
    """Optimize at every ``lambda`` and evaluate each result with hard pruning.

    Args:
        optimizer (CutoffOptimizer): the set-up (model, target structures, parametrization).
        lambdas (list[float]): cost weights.
        eval_structures: structures to evaluate on (default: the target structures; pass
            held-out frames to measure transfer).
        global_cutoffs (list[float]): global cutoffs to scan as the baseline.
        warm_start (bool): start each ``lambda`` from whichever of the initial cutoffs and the
            earlier lambdas' results has the lowest objective at this ``lambda`` (on the target
            structures), so a later run never ends worse than an earlier result it could have
            started from. The objective is not convex in the cutoffs; without this, small
            lambdas often stall in a local minimum.

    Returns:
        ParetoFront: one point per ``lambda`` (cutoffs, pairs per atom and force RMSE, each also
        at ``r_max``), plus the global scan.
    """
    rmax = optimizer.evaluate(None, eval_structures)
    scan = scan_global(optimizer, global_cutoffs, eval_structures) if global_cutoffs else []
    points = []
    starts: list[list[float] | None] = [None]
    for lam in lambdas:
        start = best_start(optimizer, starts, float(lam)) if warm_start else None
        result = optimizer.optimize(float(lam), start)
        starts.append(result.values)
        spec = cover(result.spec, eval_structures or (), optimizer.r_max)
        evaluation = optimizer.evaluate(spec, eval_structures)
        points.append(ParetoPoint(float(lam), spec, evaluation, rmax, result.history))
        if optimizer.progress is not None:
            optimizer.progress(
                f"lambda={lam:g}: {evaluation['pairs_per_atom']:.1f} pairs/atom "
                f"(r_max {rmax['pairs_per_atom']:.1f}), force RMSE "
                f"{evaluation['forces_rmse']:.4f} (r_max {rmax['forces_rmse']:.4f}) eV/A"
            )
    settings = {
        "per": optimizer.per,
        "reference": optimizer.reference,
        "cost": optimizer.cost.kind,
        "tau": optimizer.cost.tau,
        "lr": optimizer.lr,
        "epochs": optimizer.epochs,
        "init": optimizer.init,
        "batch_size": optimizer.batch_size,
        "warm_start": warm_start,
        "r_min": optimizer.r_min,
        "r_max": optimizer.r_max,
        "edge_rule": optimizer.edge_rule,
        "label": f"per {optimizer.per}, cost {optimizer.cost.kind}",
    }
    return ParetoFront(points, rmax, scan, settings)
