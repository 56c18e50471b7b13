"""Energy-per-atom, force and stress losses that respect masked labels.

Each term is returned as a *sum* over its elements and the *number* of elements (a weighted
count), so that the trainer can normalise by the count of the whole global batch. With DDP that
makes a step on ``W`` processes exactly the step of one process on the union of their batches.

Terms (``d`` is prediction minus reference, ``rho`` the elementwise loss: ``d**2`` for
``"mse"``, ``|d|`` for ``"l1"``, Huber with ``delta`` for ``"huber"``):

* energy: ``rho((E_pred - E_ref) / N_atoms)`` per structure with ``has_energy``;
* forces: ``rho(F_pred - F_ref)`` per Cartesian component of every atom of a structure with
  ``has_forces``;
* stress: ``stress_weight * rho(S_pred - S_ref)`` per component (9 per structure), counted with
  weight ``stress_weight`` (0 for frames without stress, e.g. gas-phase molecules in a box).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Batch

__all__ = ["LossTerms", "loss_terms", "combine_loss", "TERMS"]

TERMS = ("energy", "forces", "stress")


class LossTerms(NamedTuple):
    """Summed losses and their element counts.

    Attributes:
        sums (Tensor): ``[3]`` summed elementwise losses (energy, forces, stress); differentiable.
        counts (Tensor): ``[3]`` weighted number of elements of each sum (float64, detached).
    """

    sums: Tensor
    counts: Tensor


def _rho(diff: Tensor, kind: str, delta: float) -> Tensor:
    if kind == "mse":
        return diff.square()
    if kind == "l1":
        return diff.abs()
    if kind == "huber":
        return F.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=delta)
    raise ValueError(f"unknown loss kind {kind!r}; use 'mse', 'l1' or 'huber'")


def _flag(batch: Batch, key: str, num_graphs: int, device) -> Tensor:
    value = batch[key] if key in batch else None
    if value is None:
        return torch.ones(num_graphs, dtype=torch.bool, device=device)
    return value.reshape(-1).bool()


def loss_terms(
    out: dict[str, Tensor],
    batch: Batch,
    kind: str = "mse",
    delta: float = 0.01,
    stress: bool = False,
) -> LossTerms:
    """Masked loss sums of one (per-process) batch.

    Args:
        out (dict): model output with ``energy`` ``[num_graphs]``, ``forces``
            ``[num_nodes, 3]`` and, when ``stress``, ``stress`` ``[num_graphs, 3, 3]``.
        batch (Batch): labels ``energy`` ``[num_graphs]``, ``forces`` ``[num_nodes, 3]``,
            optional ``stress`` ``[num_graphs, 3, 3]``, masks ``has_energy``/``has_forces``
            ``[num_graphs]`` and ``stress_weight`` ``[num_graphs]`` (missing masks mean "all
            labelled"; missing ``stress_weight`` means ``has_stress``).
        kind (str): ``"mse"``, ``"l1"`` or ``"huber"``.
        delta (float): Huber threshold (eV/atom, eV/Å, eV/Å³ alike).
        stress (bool): include the stress term.

    Returns:
        LossTerms: sums ``[3]`` and counts ``[3]``.
    """
    energy = out["energy"]
    device, dtype = energy.device, energy.dtype
    num_graphs = energy.numel()
    graph_of = batch.batch
    num_atoms = torch.bincount(graph_of, minlength=num_graphs).to(dtype)

    has_e = _flag(batch, "has_energy", num_graphs, device)
    e_ref = batch.energy.reshape(-1).to(dtype)
    e_diff = torch.where(has_e, (energy - e_ref) / num_atoms.clamp(min=1), 0.0)
    e_sum = _rho(e_diff, kind, delta)[has_e].sum()
    e_count = has_e.sum()

    has_f = _flag(batch, "has_forces", num_graphs, device)[graph_of]
    f_diff = out["forces"][has_f] - batch.forces[has_f].to(dtype)
    f_sum = _rho(f_diff, kind, delta).sum()
    f_count = 3 * has_f.sum()

    s_sum = energy.new_zeros(())
    s_count = torch.zeros((), device=device)
    if stress:
        if "stress" not in out:
            raise ValueError("stress loss requested but the model returned no 'stress'")
        if "stress_weight" in batch:
            weight = batch.stress_weight.reshape(-1).to(dtype)
        else:
            weight = _flag(batch, "has_stress", num_graphs, device).to(dtype)
        if "stress" in batch and bool((weight > 0).any()):
            ref = batch.stress.reshape(num_graphs, 3, 3).to(dtype)
            sel = weight > 0
            per = _rho(out["stress"][sel] - ref[sel], kind, delta).sum(dim=(1, 2))
            s_sum = (weight[sel] * per).sum()
            s_count = 9 * weight.sum()
    sums = torch.stack([e_sum, f_sum, s_sum])
    counts = torch.stack([e_count.double(), f_count.double(), s_count.double()]).detach()
    return LossTerms(sums, counts)


def combine_loss(sums: Tensor, counts: Tensor, weights: Tensor, scale: float = 1.0) -> Tensor:
    """``scale * sum_k weights[k] * sums[k] / counts[k]`` (terms with no elements drop out).

    Args:
        sums (Tensor): ``[3]`` loss sums (this process's batch).
        counts (Tensor): ``[3]`` element counts to divide by (the global batch's under DDP).
        weights (Tensor): ``[3]`` term weights.
        scale (float): the DDP world size (DDP averages gradients over processes).

    Returns:
        Tensor: the scalar loss.
    """
    denom = counts.to(sums.dtype).clamp(min=1e-12)
    active = (counts > 0).to(sums.dtype)
    return scale * (weights.to(sums.dtype) * active * sums / denom).sum()
