"""Pareto fronts of accuracy against cost, and the brute-force scan of global cutoffs.

A front (``pyg-fcl optimize --out FRONT.json``) is a JSON object::

    {"format": "pyg-fcl-pareto", "version": 1,
     "settings": {...},                     # per, reference, cost kind, lr, epochs, model, data
     "r_max": {...},                        # hard-pruned evaluation at r_max
     "global_scan": [{"cutoff": 4.0, "pairs_per_atom": ..., "forces_rmse": ...}, ...],
     "points": [{"lambda": 1e-3,
                 "cutoffs": {...},          # a cutoffs file object (pyg_fcl.data format)
                 "pairs_per_atom": ..., "pairs_per_atom_rmax": ...,
                 "force_rmse": ..., "force_rmse_rmax": ...,
                 "evaluation": {...}, "history": [...]}, ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._atomic import atomic_write_text, read_json
from ..graph import CutoffSpec

__all__ = ["ParetoPoint", "ParetoFront", "PARETO_FORMAT"]

PARETO_FORMAT = "pyg-fcl-pareto"
PARETO_VERSION = 1


@dataclass
class ParetoPoint:
    """One optimized setting of a front.

    Attributes:
        lam (float): cost weight.
        spec (CutoffSpec): optimized cutoffs.
        evaluation (dict): hard-pruned evaluation at ``spec`` (see
            :func:`~pyg_fcl.optim.evaluate_cutoffs`).
        rmax (dict): the same evaluation at ``r_max``.
        history (list[dict]): the optimizer's per-epoch history.
    """

    lam: float
    spec: CutoffSpec
    evaluation: dict[str, float]
    rmax: dict[str, float]
    history: list[dict] = field(default_factory=list)

    @property
    def pairs_per_atom(self) -> float:
        return self.evaluation["pairs_per_atom"]

    @property
    def force_rmse(self) -> float:
        return self.evaluation["forces_rmse"]

    @property
    def pair_reduction(self) -> float:
        """Fraction of ``r_max`` pairs removed (0.7 means 70 % fewer pairs)."""
        return 1.0 - self.pairs_per_atom / self.rmax["pairs_per_atom"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambda": self.lam,
            "cutoffs": self.spec.to_dict(),
            "pairs_per_atom": self.pairs_per_atom,
            "pairs_per_atom_rmax": self.rmax["pairs_per_atom"],
            "force_rmse": self.force_rmse,
            "force_rmse_rmax": self.rmax["forces_rmse"],
            "evaluation": self.evaluation,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any], rmax: dict[str, float], source: str) -> ParetoPoint:
        try:
            return cls(
                lam=float(obj["lambda"]),
                spec=CutoffSpec.from_dict(obj["cutoffs"], source=source),
                evaluation=dict(obj["evaluation"]),
                rmax=rmax,
                history=list(obj.get("history", [])),
            )
        except KeyError as err:
            raise ValueError(f"{source}: Pareto point without key {err}") from None


@dataclass
class ParetoFront:
    """A sweep over ``lambda``: points, the ``r_max`` evaluation and the global-cutoff scan.

    Attributes:
        points (list[ParetoPoint]): one per ``lambda``.
        rmax (dict): hard-pruned evaluation at ``r_max``.
        global_scan (list[dict]): ``cutoff`` plus the evaluation keys, one per global cutoff.
        settings (dict): how the front was made (free-form, JSON-serialisable).
    """

    points: list[ParetoPoint]
    rmax: dict[str, float]
    global_scan: list[dict] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def best_global(self, tolerance: float = 0.0) -> dict | None:
        """The scanned global cutoff with the lowest force RMSE (cheapest among ties).

        With ``tolerance`` > 0, the cheapest global cutoff whose force RMSE is within
        ``(1 + tolerance)`` of the lowest one.
        """
        if not self.global_scan:
            return None
        best = min(s["forces_rmse"] for s in self.global_scan)
        ok = [s for s in self.global_scan if s["forces_rmse"] <= best * (1 + tolerance)]
        return min(ok, key=lambda s: s["pairs_per_atom"])

    def non_monotonic(self, tolerance: float = 1e-3) -> list[str]:
        """Pairs of points where a larger ``lambda`` (a higher price on cost) gave *more* pairs
        per atom: the optimizer did not converge there. One message per such pair."""
        pts = sorted(self.points, key=lambda p: p.lam)
        issues = []
        for low, high in zip(pts, pts[1:]):
            if high.pairs_per_atom > low.pairs_per_atom * (1 + tolerance):
                issues.append(
                    f"lambda {high.lam:g} gives more pairs per atom ({high.pairs_per_atom:.2f}) "
                    f"than the smaller lambda {low.lam:g} ({low.pairs_per_atom:.2f})"
                )
        return issues

    def table(self) -> str:
        """A plain-text table: λ, pairs per atom, reduction, force RMSE, relative increase."""
        base_p, base_f = self.rmax["pairs_per_atom"], self.rmax["forces_rmse"]
        lines = [
            f"{'setting':>16} {'pairs/atom':>10} {'reduction':>9} {'F RMSE':>9} {'vs r_max':>8}",
        ]

        def row(name: str, p: float, f: float) -> str:
            # relative columns need a non-zero base: a label-free front against the model's own
            # r_max predictions has zero error there, a structure of isolated atoms zero pairs
            reduction = f"{100 * (1 - p / base_p):8.1f}%" if base_p > 0 else f"{'n/a':>9}"
            increase = f"{100 * (f / base_f - 1):+7.2f}%" if base_f > 0 else f"{'n/a':>8}"
            return f"{name:>16} {p:10.1f} {reduction} {f:9.4f} {increase}"

        lines.append(row("r_max", base_p, base_f))
        for s in self.global_scan:
            lines.append(row(f"global {s['cutoff']:.2f} A", s["pairs_per_atom"], s["forces_rmse"]))
        for pt in self.points:
            lines.append(row(f"lambda {pt.lam:.0e}", pt.pairs_per_atom, pt.force_rmse))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PARETO_FORMAT,
            "version": PARETO_VERSION,
            "settings": self.settings,
            "r_max": self.rmax,
            "global_scan": self.global_scan,
            "points": [p.to_dict() for p in self.points],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the front as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n"
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ParetoFront:
        """Read a front written by :meth:`save`."""
        source = os.fspath(path)
        obj = read_json(source, "Pareto front file")
        if not isinstance(obj, dict) or obj.get("format") != PARETO_FORMAT:
            raise ValueError(f"{source!r} is not a pyg-fcl Pareto front (format marker)")
        if int(obj.get("version", 0)) > PARETO_VERSION:
            raise ValueError(f"{source!r}: Pareto front version {obj['version']} is too new")
        rmax = dict(obj["r_max"])
        points = [
            ParetoPoint.from_dict(p, rmax, f"{source!r} point {k}")
            for k, p in enumerate(obj.get("points", []))
        ]
        return cls(points, rmax, list(obj.get("global_scan", [])), dict(obj.get("settings", {})))

    def plot(self, path: str | os.PathLike, title: str = "", others: Sequence = ()) -> None:
        """Save force RMSE vs pairs per atom (this front, ``others`` fronts, the global scan).

        Args:
            path: PNG file.
            title (str): figure title.
            others: ``(label, ParetoFront)`` pairs drawn on the same axes.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.2))
        if self.global_scan:
            scan = sorted(self.global_scan, key=lambda s: s["pairs_per_atom"])
            ax.plot(
                [s["pairs_per_atom"] for s in scan],
                [s["forces_rmse"] for s in scan],
                "s--",
                color="gray",
                label="global cutoffs (scan)",
            )
            for s in scan:
                ax.annotate(
                    f"{s['cutoff']:.1f}",
                    (s["pairs_per_atom"], s["forces_rmse"]),
                    fontsize=7,
                    color="gray",
                )
        fronts = [(self.settings.get("label", "optimized"), self), *others]
        for label, front in fronts:
            pts = sorted(front.points, key=lambda p: p.pairs_per_atom)
            ax.plot([p.pairs_per_atom for p in pts], [p.force_rmse for p in pts], "o-", label=label)
            for p in pts:
                ax.annotate(
                    f"λ={p.lam:.0e}",
                    (p.pairs_per_atom, p.force_rmse),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
        ax.plot(
            [self.rmax["pairs_per_atom"]], [self.rmax["forces_rmse"]], "k*", ms=12, label="r_max"
        )
        ax.set_xlabel("pairs per atom")
        ax.set_ylabel("force RMSE (eV/Å)")
        if title:
            ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
