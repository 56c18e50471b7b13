"""Post-training optimization of per-atom cutoffs: minimize ``error + lambda * cost``.

The model is frozen; only the cutoff parameters move. Gradients reach them through the smooth
envelope ``u(r / r_c)`` and through the model's cutoff conditioning (edge-cutoff features,
cutoff embeddings). A force error in the loss differentiates forces (themselves ``-dE/dpos``)
with respect to the cutoffs, i.e. second-order autograd.

The forward pass uses the model's ordinary hard-pruned graph (``model(data)``): an edge beyond its
cutoff has envelope exactly 0 with exactly zero gradient in both ``r`` and ``r_c``, so dropping
it changes neither the loss nor its gradient, and the pruned graph is the cheaper one to
differentiate twice (with ``prune=False`` every ``r_max`` edge would be carried through both
backward passes).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..cost import DifferentiableCostModel
from ..graph import CutoffSpec
from ..transforms import FlexibleRadiusGraph
from .evaluation import evaluate_cutoffs
from .parametrization import CutoffParametrization, make_parametrization
from .pareto import ParetoFront
from .sweep import cover, pareto_sweep, scan_global

__all__ = ["CutoffOptimizer", "OptimizationResult", "frozen_second_order"]

REFERENCES: tuple[str, ...] = ("labels", "model")


@dataclass
class OptimizationResult:
    """Outcome of one optimization at a fixed ``lam``.

    Attributes:
        lam (float): weight of the cost.
        spec (CutoffSpec): the optimized cutoffs (save with :func:`pyg_fcl.data.save_cutoffs`).
        history (list[dict]): per epoch: ``epoch``, ``objective``, ``error``, ``cost`` (means
            over the epoch's batches) and ``seconds``.
        values (list[float]): the parameter values (per element / atom / one global cutoff).
    """

    lam: float
    spec: CutoffSpec
    history: list[dict] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@contextlib.contextmanager
def frozen_second_order(model: torch.nn.Module) -> Iterator[None]:
    """Freeze the parameters and put the model in eval mode (re-entrant).

    The forces stay differentiable in the cutoffs: an FCL model keeps the force graph whenever
    ``data.cutoff`` requires grad (``create_graph=None``). Every module's ``training`` flag and
    every parameter's ``requires_grad`` are restored on exit.
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def _mask(data: Data, key: str, size: int) -> Tensor:
    value = getattr(data, key, None)
    if value is None:
        return torch.ones(size, dtype=torch.bool, device=data.pos.device)
    return value.reshape(-1).bool()


class CutoffOptimizer:
    """Optimize per-element, per-atom or global cutoffs of a trained FCL model.

    Args:
        model: a trained FCL model (``r_min < r_max``, ``edge_rule``; ``model(data)`` returns
            ``energy`` ``[num_graphs]`` and ``forces`` ``[num_nodes, 3]``). It is not modified.
        structures (list[Data]): target structures (``z``, ``pos``, ``cell``, ``pbc``; with
            ``energy``/``forces`` labels when ``reference="labels"``).
        per (str): ``"element"`` (the paper's), ``"atom"`` (frames of one system) or
            ``"global"``.
        reference (str): ``"labels"`` (DFT labels) or ``"model"`` (label-free: the model's own
            predictions at ``r_max``, computed once).
        cost (DifferentiableCostModel, optional): default: smooth pairs per atom.
        lr (float): initial Adam learning rate on the sigmoid parameters ``theta``, decayed to
            a tenth over the run (cosine). The paper's 3e-3 was for cutoffs in Å; through the
            sigmoid a step moves a cutoff by at most ``lr * (r_max - r_min) / 4`` Å, so the
            default is larger (0.2; measured to move cutoffs across the range in ~30 steps).
        epochs (int): passes over the structures per ``lam``.
        init (float, optional): initial cutoff (Å) for every parameter; default
            ``r_min + 0.75 (r_max - r_min)`` (6.1 Å for the paper's range [3.5, 7], where it
            started at 6 Å). At ``r_max`` itself the sigmoid is saturated (clamped to
            ``theta = 4``) and the first steps barely move the cutoffs.
        batch_size (int): structures per optimization step.
        energy_weight, force_weight (float): error ``= energy_weight * L1(energy per atom) +
            force_weight * L1(forces)`` (the paper's 0.1 and 1).
        seed (int): seed of the batch order.
        progress (callable, optional): called with one-line progress messages.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        structures: Sequence[Data],
        per: str = "element",
        reference: str = "labels",
        cost: DifferentiableCostModel | None = None,
        lr: float = 0.2,
        epochs: int = 10,
        init: float | None = None,
        batch_size: int = 8,
        energy_weight: float = 0.1,
        force_weight: float = 1.0,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if not structures:
            raise ValueError("CutoffOptimizer needs at least one target structure")
        if reference not in REFERENCES:
            raise ValueError(f"reference={reference!r} is not one of {REFERENCES}")
        if epochs < 1 or batch_size < 1 or not lr > 0:
            raise ValueError(
                f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
            )
        self.model = model
        self.r_min, self.r_max = float(model.r_min), float(model.r_max)
        self.edge_rule = model.edge_rule
        self.per = per
        self.reference = reference
        self.cost = cost or DifferentiableCostModel(self.r_max, self.edge_rule, kind="pairs")
        if self.cost.r_max < self.r_max or self.cost.edge_rule != self.edge_rule:
            raise ValueError(
                f"cost model (r_max={self.cost.r_max}, edge_rule={self.cost.edge_rule!r}) does "
                f"not match the model (r_max={self.r_max}, edge_rule={self.edge_rule!r})"
            )
        self.lr = float(lr)
        self.epochs = int(epochs)
        self.init = self.r_min + 0.75 * (self.r_max - self.r_min) if init is None else float(init)
        self.batch_size = int(batch_size)
        self.energy_weight = float(energy_weight)
        self.force_weight = float(force_weight)
        self.seed = int(seed)
        self.progress = progress
        make_parametrization(per, structures, self.r_min, self.r_max, self.init)  # validates
        self.structures = self._prepare(structures)

    # ------------------------------------------------------------------ setup
    def _dtype(self) -> torch.dtype:
        return next((p.dtype for p in self.model.parameters()), torch.get_default_dtype())

    def _device(self) -> torch.device:
        return next((p.device for p in self.model.parameters()), torch.device("cpu"))

    def _prepare(self, structures: Sequence[Data]) -> list[Data]:
        """Copies on the model's device and dtype, with the ``r_max`` graph and references."""
        graph = FlexibleRadiusGraph(self.r_max, edge_rule=self.edge_rule)
        dtype, device = self._dtype(), self._device()
        out = []
        for k, s in enumerate(structures):
            d = copy.copy(s).to(device)
            for key in ("pos", "cell", "energy", "forces"):
                if getattr(d, key, None) is not None and d[key].is_floating_point():
                    d[key] = d[key].to(dtype)
            if "cutoff" in d:
                del d.cutoff
            graph.build_cache(d)
            if self.reference == "labels":
                for key in ("energy", "forces"):
                    if getattr(d, key, None) is None:
                        raise ValueError(f"structure {k} has no {key} label (reference='labels')")
                d.ref_energy, d.ref_forces = d.energy.reshape(-1), d.forces
                d.ref_energy_mask = _mask(d, "has_energy", 1)
                d.ref_forces_mask = _mask(d, "has_forces", 1)
            out.append(d)
        if self.reference == "model":
            for d in out:
                pred = self.model(copy.copy(d))
                d.ref_energy = pred["energy"].detach().reshape(-1)
                d.ref_forces = pred["forces"].detach()
                d.ref_energy_mask = torch.ones(1, dtype=torch.bool, device=device)
                d.ref_forces_mask = torch.ones(1, dtype=torch.bool, device=device)
        return out

    def parametrization(self) -> CutoffParametrization:
        """A fresh parametrization at the initial cutoff."""
        p = make_parametrization(self.per, self.structures, self.r_min, self.r_max, self.init)
        return p.to(self._device())

    # ------------------------------------------------------------------ objective
    def error(self, batch: Batch, out: dict[str, Tensor]) -> Tensor:
        """``energy_weight * L1(energy per atom) + force_weight * L1(forces)``, a 0-d tensor."""
        n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(out["energy"].dtype)
        e_mask = batch.ref_energy_mask
        f_mask = batch.ref_forces_mask[batch.batch]
        de = ((out["energy"] - batch.ref_energy).abs() / n_atoms)[e_mask]
        df = (out["forces"] - batch.ref_forces).abs()[f_mask]
        zero = out["energy"].sum() * 0
        e_term = de.mean() if de.numel() else zero
        f_term = df.mean() if df.numel() else zero
        return self.energy_weight * e_term + self.force_weight * f_term

    def _batches(self, generator: torch.Generator) -> list[list[Data]]:
        order = torch.randperm(len(self.structures), generator=generator).tolist()
        return [
            [self.structures[k] for k in order[i : i + self.batch_size]]
            for i in range(0, len(order), self.batch_size)
        ]

    def objective(
        self, param: CutoffParametrization, batch: Batch, lam: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(objective, error, cost)`` for one batch, differentiable in ``param.theta``."""
        cutoff = param(batch.z).to(batch.pos.dtype)
        data = copy.copy(batch)
        data.cutoff = cutoff
        with frozen_second_order(self.model):
            out = self.model(data)
        err = self.error(batch, out)
        cost = self.cost(batch, cutoff)
        return err + lam * cost, err, cost

    def full_objective(self, param: CutoffParametrization, lam: float) -> tuple[Tensor, ...]:
        """``(objective, error, cost)`` over all target structures in one batch."""
        return self.objective(param, Batch.from_data_list(self.structures), lam)

    # ------------------------------------------------------------------ optimize
    def optimize(self, lam: float, start: Sequence[float] | None = None) -> OptimizationResult:
        """Minimize ``error + lam * cost`` with Adam.

        Args:
            lam (float): weight of the cost (>= 0).
            start (list[float], optional): parameter values (cutoffs in Å, as in
                :attr:`OptimizationResult.values`) to start from instead of ``init``.

        Returns:
            OptimizationResult: the cutoffs and the per-epoch history.
        """
        if not (math.isfinite(lam) and lam >= 0):
            raise ValueError(f"lambda must be finite and >= 0, got {lam!r}")
        param = self.parametrization()
        if start is not None:
            param.set_values(start)
        first = param.values().detach().clone()
        first_objective = None
        if start is not None:
            first_objective = float(self.full_objective(param, lam)[0].detach())
        opt = torch.optim.Adam(param.parameters(), lr=self.lr)
        steps = self.epochs * math.ceil(len(self.structures) / self.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=0.1 * self.lr)
        generator = torch.Generator().manual_seed(self.seed)
        history = []
        with frozen_second_order(self.model):
            for epoch in range(self.epochs):
                t0 = time.perf_counter()
                sums = [0.0, 0.0, 0.0]
                batches = self._batches(generator)
                for items in batches:
                    batch = Batch.from_data_list(items)
                    opt.zero_grad(set_to_none=True)
                    obj, err, cost = self.objective(param, batch, lam)
                    obj.backward()
                    opt.step()
                    schedule.step()
                    for i, v in enumerate((obj, err, cost)):
                        sums[i] += float(v.detach())
                n = len(batches)
                entry = {
                    "epoch": epoch + 1,
                    "objective": sums[0] / n,
                    "error": sums[1] / n,
                    "cost": sums[2] / n,
                    "seconds": time.perf_counter() - t0,
                }
                history.append(entry)
                if self.progress is not None:
                    values = param.values().detach()
                    self.progress(
                        f"lambda={lam:g} epoch {epoch + 1}/{self.epochs}: objective "
                        f"{entry['objective']:.5f} error {entry['error']:.5f} cost "
                        f"{entry['cost']:.3f} cutoffs {values.min():.2f}..{values.max():.2f} A "
                        f"({entry['seconds']:.1f} s)"
                    )
        kept_start = False
        if first_objective is not None:
            # Adam is not monotone: never return worse than the (warm) start on the targets
            final = float(self.full_objective(param, lam)[0].detach())
            if final > first_objective:
                param.set_values(first.tolist())
                kept_start = True
        meta = {
            "lambda": lam,
            "warm_start": start is not None,
            "kept_start": kept_start,
            "per": self.per,
            "reference": self.reference,
            "cost": self.cost.kind,
            "epochs": self.epochs,
            "lr": self.lr,
            "init": self.init,
            "r_min": self.r_min,
        }
        spec = param.spec(edge_rule=self.edge_rule, r_max=self.r_max, meta=meta)
        return OptimizationResult(lam, spec, history, param.values().detach().tolist())

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self, cutoffs: CutoffSpec | float | None, structures: Sequence[Data] | None = None
    ) -> dict[str, float]:
        """Hard-pruned evaluation (see :func:`~pyg_fcl.optim.evaluate_cutoffs`) against labels.

        Args:
            cutoffs: a spec, one global cutoff, or ``None`` for ``r_max``.
            structures: structures to evaluate on (default: the target structures).
        """
        return evaluate_cutoffs(
            self.model, self.structures if structures is None else structures, cutoffs
        )

    # ------------------------------------------------------------------ sweeps (optim/sweep.py)
    def cover(self, spec: CutoffSpec, structures: Sequence[Data]) -> CutoffSpec:
        """See :func:`~pyg_fcl.optim.sweep.cover`."""
        return cover(spec, structures, self.r_max)

    def scan_global(
        self, cutoffs: Sequence[float], structures: Sequence[Data] | None = None
    ) -> list[dict]:
        """Brute-force baseline, see :func:`~pyg_fcl.optim.sweep.scan_global`."""
        return scan_global(self, cutoffs, structures)

    def pareto(
        self,
        lambdas: Sequence[float],
        eval_structures: Sequence[Data] | None = None,
        global_cutoffs: Sequence[float] = (),
        warm_start: bool = True,
    ) -> ParetoFront:
        """The λ sweep: optimize at every ``lambda``, evaluate with hard pruning (see
        :func:`~pyg_fcl.optim.sweep.pareto_sweep`)."""
        return pareto_sweep(self, lambdas, eval_structures, global_cutoffs, warm_start)
