"""Differentiable models of what it costs to run an FCL model with given per-atom cutoffs.

Three cost measures, all per atom, all computed from the graph searched once at ``r_max`` (the
cached :class:`~pyg_fcl.graph.RMaxGraph`):

=========  ===========================================================  ======================
kind       cost                                                         differentiable
=========  ===========================================================  ======================
``rc3``    ``mean_i r_c^(i) ** 3`` (the FCL paper's proxy)              yes
``pairs``  smooth pairs per atom ``sum_e sigmoid((rc_e - r_e) / tau) / N``  yes (``tau`` > 0)
``time``   calibrated ``(a G + b N + c E_smooth) / N``, in µs per atom   yes (after calibrate)
=========  ===========================================================  ======================

"Pairs per atom" counts directed edges ``j -> i`` of the pruned graph divided by the number of
atoms, i.e. the mean number of neighbours an atom sees under the model's edge rule.
:meth:`DifferentiableCostModel.exact_pairs` gives the hard count (``r_e < rc_e``) for reporting.

The time model ``t = a + b N_atoms + c N_edges`` (seconds per energy+forces call of one structure)
is fitted by :meth:`DifferentiableCostModel.calibrate` from measured timings. For a fixed set of
structures its gradient in the cutoffs is ``c`` times that of the smooth pair count, so it ranks
cutoffs like ``pairs``; what it adds is a cost in seconds (and the measured quality of the fit).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from .graph import RMaxGraph, check_edge_rule, resolve_cutoffs

__all__ = ["DifferentiableCostModel", "TimeCalibration", "COST_KINDS"]

COST_KINDS: tuple[str, ...] = ("pairs", "rc3", "time")


@dataclass
class TimeCalibration:
    """Least-squares fit ``t = a + b * num_atoms + c * num_edges`` of measured call times.

    Attributes:
        a (float): seconds per call (fixed overhead).
        b (float): seconds per atom.
        c (float): seconds per edge (directed pair).
        r2 (float): coefficient of determination of the fit on the measurements.
        rank (int): rank of the design matrix (3 when a, b and c are all identifiable; with one
            structure size ``a`` and ``b`` are not separable and only their sum is meaningful).
        samples (list[dict]): the measurements: ``num_atoms``, ``num_edges``, ``seconds``,
            ``setting`` (the cutoff setting), ``structure`` (index).
    """

    a: float
    b: float
    c: float
    r2: float
    rank: int
    samples: list[dict]

    def predict(self, num_atoms: float, num_edges: float) -> float:
        """Predicted seconds per energy+forces call."""
        return self.a + self.b * num_atoms + self.c * num_edges

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"t = {self.a * 1e3:.3f} ms + {self.b * 1e6:.2f} us/atom * N_atoms + "
            f"{self.c * 1e6:.3f} us/edge * N_edges  (R^2 = {self.r2:.4f}, "
            f"{len(self.samples)} samples, rank {self.rank})"
        )


def _num_graphs(data: Data) -> int:
    if isinstance(data, Batch):
        return int(data.num_graphs)
    return 1


class DifferentiableCostModel:
    """Cost of running a model with per-atom cutoffs, differentiable in the cutoffs.

    Args:
        r_max (float): the model's largest cutoff (Å); the radius the graph is searched at.
        edge_rule (str): edge rule of the model (``"mean"``, ``"receiver"``, ...).
        kind (str): which cost :meth:`__call__` returns: ``"pairs"`` (default), ``"rc3"`` or
            ``"time"`` (needs :meth:`calibrate` or ``calibration``).
        tau (float): width (Å) of the sigmoid in the smooth pair count (default 0.1).
        calibration (TimeCalibration, optional): a previous :meth:`calibrate` result.
        backend (str): neighbour-search backend for structures without a cached graph.

    Example::

        cost = DifferentiableCostModel(model.r_max, model.edge_rule, kind="pairs")
        c = cost(data, cutoff)          # scalar tensor, gradient w.r.t. cutoff [num_nodes]
        n = cost.exact_pairs(data, cutoff)
    """

    def __init__(
        self,
        r_max: float,
        edge_rule: str = "mean",
        kind: str = "pairs",
        tau: float = 0.1,
        calibration: TimeCalibration | None = None,
        backend: str = "auto",
    ) -> None:
        if kind not in COST_KINDS:
            raise ValueError(f"cost kind {kind!r} is not one of {COST_KINDS}")
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be finite and > 0, got tau={tau!r}")
        self.r_max = float(r_max)
        self.edge_rule = check_edge_rule(edge_rule)
        self.kind = kind
        self.tau = float(tau)
        self.calibration = calibration
        self.backend = backend

    # ------------------------------------------------------------------ graph
    def ensure_graph(self, data: Data) -> Data:
        """Build the ``r_max`` graph cache on ``data`` (in place) unless already there."""
        RMaxGraph.ensure(data, self.r_max, self.backend)
        return data

    def _edges(self, data: Data, cutoff: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Cached ``r_max`` edge lengths ``[E]``, their edge cutoffs ``[E]`` (differentiable) and
        the receiver of each edge ``[E]``."""
        rmax = RMaxGraph.ensure(data, self.r_max, self.backend)
        if cutoff.dim() == 0:
            cutoff = cutoff.expand(data.num_nodes)
        if cutoff.shape != (data.num_nodes,):
            raise ValueError(
                f"cutoff must have shape [num_nodes] = [{data.num_nodes}], got {list(cutoff.shape)}"
            )
        edge_cutoff = rmax.edge_cutoff(cutoff, self.edge_rule)
        return rmax.edge_length.to(edge_cutoff.dtype), edge_cutoff, rmax.edge_index[1]

    # ------------------------------------------------------------------ costs
    def rc3(self, cutoff: Tensor) -> Tensor:
        """The paper's proxy: mean over atoms of ``r_c^3`` (Å³), a 0-d tensor.

        Args:
            cutoff (Tensor): ``[num_nodes]`` per-atom cutoffs.
        """
        return cutoff.pow(3).mean()

    def smooth_edges(self, data: Data, cutoff: Tensor) -> Tensor:
        """Smooth number of edges per structure, ``[num_graphs]``.

        Each ``r_max`` edge counts ``sigmoid((edge_cutoff - r) / tau)``.

        Args:
            data (Data): one structure or a ``Batch``.
            cutoff (Tensor): ``[num_nodes]`` per-atom cutoffs (may require grad).
        """
        length, edge_cutoff, receiver = self._edges(data, cutoff)
        weight = torch.sigmoid((edge_cutoff - length) / self.tau)
        batch = data.batch if "batch" in data and data.batch is not None else None
        out = weight.new_zeros(_num_graphs(data))
        if weight.numel() == 0:
            return out
        graph = batch[receiver] if batch is not None else 0
        if batch is None:
            return out + weight.sum()
        return out.index_add(0, graph, weight)

    def smooth_pairs(self, data: Data, cutoff: Tensor) -> Tensor:
        """Smooth pairs per atom over all atoms of ``data``, a 0-d tensor."""
        return self.smooth_edges(data, cutoff).sum() / max(data.num_nodes, 1)

    @torch.no_grad()
    def exact_edges(self, data: Data, cutoff: Tensor) -> int:
        """Exact number of directed edges with ``r < edge_cutoff`` (what hard pruning keeps)."""
        length, edge_cutoff, _ = self._edges(data, cutoff.detach())
        return int((length < edge_cutoff).sum())

    def exact_pairs(self, data: Data, cutoff: Tensor) -> float:
        """Exact pairs per atom under the edge rule (for reporting; not differentiable)."""
        return self.exact_edges(data, cutoff) / max(data.num_nodes, 1)

    def time_per_atom(self, data: Data, cutoff: Tensor) -> Tensor:
        """Calibrated predicted time, µs per atom (0-d tensor, differentiable via the edges)."""
        if self.calibration is None:
            raise ValueError("cost kind 'time' needs a calibration: call calibrate() first")
        fit = self.calibration
        edges = self.smooth_edges(data, cutoff).sum()
        seconds = fit.a * _num_graphs(data) + fit.b * data.num_nodes + fit.c * edges
        return 1e6 * seconds / max(data.num_nodes, 1)

    def __call__(self, data: Data, cutoff: Tensor) -> Tensor:
        """The cost of kind :attr:`kind` for ``data`` with per-atom ``cutoff`` ``[num_nodes]``."""
        if self.kind == "rc3":
            return self.rc3(cutoff)
        if self.kind == "pairs":
            return self.smooth_pairs(data, cutoff)
        return self.time_per_atom(data, cutoff)

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        model: torch.nn.Module,
        structures: Sequence[Data],
        cutoff_settings: Sequence[float | Tensor | Callable[[Data], Tensor]],
        repeats: int = 3,
        warmup: int = 1,
        progress: Callable[[str], None] | None = None,
    ) -> TimeCalibration:
        """Time ``model`` (energy + forces) at several cutoff settings and fit the time model.

        Every structure is timed at every setting: the fastest of ``repeats`` calls after
        ``warmup`` untimed calls (the minimum is the estimate least disturbed by other
        processes), with its ``r_max`` graph searched beforehand, as in MD with a reused
        neighbour list. Structures of different sizes make ``a`` and ``b`` separable.

        Args:
            model: an FCL model (``model(data)`` returns energy and forces).
            structures (list[Data]): structures to time.
            cutoff_settings: global cutoffs (float), per-atom tensors ``[num_nodes]`` (for
                structures of that size), or callables ``data -> [num_nodes]`` cutoffs.
            repeats (int): timed calls per measurement.
            warmup (int): untimed calls before timing.
            progress (callable, optional): called with a one-line message per measurement.

        Returns:
            TimeCalibration: the fit; also stored in :attr:`calibration`.
        """
        if not structures or not cutoff_settings:
            raise ValueError("calibrate needs at least one structure and one cutoff setting")
        samples = []
        for s, structure in enumerate(structures):
            base = self.ensure_graph(copy.copy(structure))
            for setting in cutoff_settings:
                data = copy.copy(base)
                cutoff = _resolve_setting(setting, data, self.r_max)
                data.cutoff = cutoff
                for _ in range(warmup):
                    model(copy.copy(data))
                times = []
                for _ in range(max(1, repeats)):
                    trial = copy.copy(data)
                    start = time.perf_counter()
                    model(trial)
                    times.append(time.perf_counter() - start)
                sample = {
                    "structure": s,
                    "setting": _describe_setting(setting),
                    "num_atoms": int(data.num_nodes),
                    "num_edges": self.exact_edges(data, cutoff),
                    "seconds": float(np.min(times)),
                }
                samples.append(sample)
                if progress is not None:
                    progress(
                        f"calibrate: structure {s} ({sample['num_atoms']} atoms), cutoff "
                        f"{sample['setting']}: {sample['num_edges']} edges, "
                        f"{sample['seconds'] * 1e3:.2f} ms"
                    )
        self.calibration = fit_time_model(samples)
        return self.calibration

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(r_max={self.r_max}, edge_rule={self.edge_rule!r}, "
            f"kind={self.kind!r}, tau={self.tau})"
        )


def fit_time_model(samples: Sequence[dict]) -> TimeCalibration:
    """Least-squares fit of ``seconds ~ a + b num_atoms + c num_edges`` to ``samples``.

    Args:
        samples (list[dict]): each with ``num_atoms``, ``num_edges`` and ``seconds``.

    Returns:
        TimeCalibration: coefficients, R² and the design rank (minimum-norm solution when the
        rank is below 3).
    """
    if len(samples) < 2:
        raise ValueError(f"need at least 2 timing samples to fit, got {len(samples)}")
    X = np.array([[1.0, s["num_atoms"], s["num_edges"]] for s in samples], dtype=np.float64)
    t = np.array([s["seconds"] for s in samples], dtype=np.float64)
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    coef, _, rank, _ = np.linalg.lstsq(X / scale, t, rcond=None)
    coef = coef / scale
    resid = t - X @ coef
    total = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / total if total > 0 else 1.0
    return TimeCalibration(
        a=float(coef[0]),
        b=float(coef[1]),
        c=float(coef[2]),
        r2=r2,
        rank=int(rank),
        samples=list(samples),
    )


def _resolve_setting(setting, data: Data, r_max: float) -> Tensor:
    """Per-atom cutoffs ``[N]`` of a timing setting: a callable of ``data``, or anything
    :func:`~pyg_fcl.graph.resolve_cutoffs` takes."""
    if callable(setting):
        setting = torch.as_tensor(setting(data), dtype=data.pos.dtype)
    return resolve_cutoffs(
        setting,
        data.z,
        r_max=r_max,
        dtype=data.pos.dtype,
        source="cutoff setting",
    )


def _describe_setting(setting) -> str | float:
    if callable(setting):
        return getattr(setting, "__name__", repr(setting))
    if isinstance(setting, Tensor):
        return f"per-atom (mean {float(setting.float().mean()):.3f})"
    return float(setting)
