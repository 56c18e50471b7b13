"""Hard-pruned evaluation of a model at given cutoffs (a thin layer over :func:`pyg_fcl.evaluate`).

"Hard-pruned" means what deployment does: the graph keeps only edges with ``r < edge_cutoff``
(the model's ordinary forward pass) at exactly the given cutoffs. Pairs per atom count the
directed edges of that graph divided by the number of atoms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..evaluate import evaluate
from ..graph import CutoffSpec

__all__ = ["evaluate_cutoffs"]


def evaluate_cutoffs(
    model: torch.nn.Module,
    structures: Sequence[Data],
    cutoffs: CutoffSpec | float | Tensor | None = None,
    batch_size: int = 16,
) -> dict[str, float]:
    """Overall errors and pairs per atom of ``model`` on ``structures`` at ``cutoffs``.

    Args:
        model: an FCL model.
        structures (list[Data]): labelled structures.
        cutoffs: a :class:`~pyg_fcl.data.CutoffSpec`, one global cutoff, or ``None`` for
            ``r_max``.
        batch_size (int): structures per forward pass.

    Returns:
        dict: the ``"overall"`` metrics of :func:`pyg_fcl.evaluate.evaluate` (``forces_rmse``,
        ``forces_mae`` in eV/Å, ``energy_mae``, ``energy_rmse`` in eV/atom, ``pairs_per_atom``,
        ``num_structures``, ``num_atoms``); stress is not evaluated.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    result = evaluate(
        model,
        structures,
        cutoffs,
        batch_size=batch_size,
        device=device,
        compute_stress=False,
    )
    return result["overall"]
