"""The learning-rate factor of the Trainer's ``cosine`` and ``constant`` schedules.

Plain Python (only :mod:`math`), so that code outside pyg-fcl's environment can load this file
and follow exactly the same schedule (``benchmarks/_mace_train_worker.py`` does, for mace-torch).
"""

from __future__ import annotations

import math

__all__ = ["lr_factor"]


def lr_factor(
    step: int, *, scheduler: str, warmup_steps: int, min_lr_ratio: float, total_steps: int
) -> float:
    """Factor on the base learning rate at optimizer step ``step`` (0-based).

    A linear warm-up over ``warmup_steps``, then ``1`` (``"constant"``) or a cosine from ``1``
    down to ``min_lr_ratio`` at ``total_steps`` (``"cosine"``), held there afterwards.
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if scheduler == "constant":
        return 1.0
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
