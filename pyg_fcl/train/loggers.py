"""Optional metric loggers next to ``metrics.csv``/``metrics.json``: TensorBoard and W&B.

The Trainer always writes ``metrics.json`` and ``metrics.csv`` (:mod:`pyg_fcl.train.metrics`).
``TrainConfig(loggers=["tensorboard", "wandb"])`` (CLI ``--logger tensorboard wandb``) also sends

* every ``log_every`` optimizer steps: ``train/step_loss`` (the weighted loss of the global
  batch) and ``train/lr``;
* after every validation: the epoch's ``train/<term>_loss`` terms, ``score``, ``epoch``, and every
  validation error per validation cutoff and subset, ``val@<cutoff>/<subset>/<metric>`` (the
  columns of ``metrics.csv``, e.g. ``val@5/overall/forces_rmse``),

with the global step as the x axis. Only rank 0 logs. TensorBoard needs the ``tensorboard``
package (``pip install tensorboard``; event files go to ``out_dir/tensorboard``); W&B needs
``wandb`` (project from ``WANDB_PROJECT`` or ``"pyg-fcl"``, run name from ``out_dir``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .metrics import flatten_record

__all__ = ["LOGGERS", "MetricLoggers", "validation_scalars"]

LOGGERS = ("csv", "tensorboard", "wandb")


def validation_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of one history record (flattened as in ``metrics.csv``), finite ones only."""
    out = {}
    for key, value in flatten_record(record).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key in ("global_step", "time_s") or not math.isfinite(value):
            continue
        out[key] = float(value)
    return out


class _TensorBoard:
    def __init__(self, out_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ValueError(
                "logger 'tensorboard' needs the tensorboard package: pip install tensorboard "
                f"({err})"
            ) from None
        self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def log(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, out_dir: Path, config: dict) -> None:
        try:
            import wandb
        except ImportError:
            raise ValueError("logger 'wandb' needs the wandb package: pip install wandb") from None
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "pyg-fcl"),
            name=out_dir.name,
            dir=str(out_dir),
            config=config,
            resume="allow",
        )

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.run.finish()


class MetricLoggers:
    """The loggers of one run (rank 0 only; empty elsewhere and for ``"csv"`` alone).

    Args:
        names (list[str]): among :data:`LOGGERS`; ``"csv"`` is always on (metrics.csv/json).
        out_dir (str, optional): the run's output directory (needed by the loggers).
        config (dict): the run's configuration (sent to W&B).
        active (bool): whether this process logs (rank 0).
        log_every (int): log step metrics every so many optimizer steps.

    Raises:
        ValueError: an unknown logger name, a logger without ``out_dir``, or its package missing.
    """

    def __init__(
        self,
        names,
        out_dir: str | os.PathLike | None,
        config: dict,
        active: bool = True,
        log_every: int = 1,
    ) -> None:
        names = list(names or [])
        unknown = sorted(set(names) - set(LOGGERS))
        if unknown:
            raise ValueError(f"unknown logger(s) {unknown}; choose from {list(LOGGERS)}")
        extra = [n for n in names if n != "csv"]
        if extra and out_dir is None:
            raise ValueError(f"loggers {extra} need an out_dir")
        #: whether step metrics are wanted (the same on every rank: it decides a collective)
        self.wants_steps = bool(extra)
        self.log_every = max(1, int(log_every))
        self.names = extra if active else []
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.config = config
        self.backends: list = []
        self._open()  # fail early (missing package), not after the first epoch

    def _open(self) -> list:
        if self.names and not self.backends:
            for name in self.names:
                backend = _TensorBoard if name == "tensorboard" else _WandB
                args = (self.out_dir,) if name == "tensorboard" else (self.out_dir, self.config)
                self.backends.append(backend(*args))
        return self.backends

    def log_step(self, step: int, loss: float, lr: float, ctx=None) -> None:
        """Per-step metrics; call it on every rank after each step.

        Args:
            step (int): global step. lr (float): learning rate.
            loss (float): this rank's share of the global batch loss; summed over ranks (a
                collective, so every rank must call) when step metrics are logged.
            ctx (DistributedContext, optional): for the sum over ranks.
        """
        if not self.wants_steps or step % self.log_every:
            return
        if ctx is not None and ctx.enabled:
            import torch

            total = ctx.all_reduce(torch.tensor([float(loss)], device=ctx.device))
            loss = float(total.sum())
        for backend in self._open():
            backend.log({"train/step_loss": float(loss), "train/lr": float(lr)}, step)

    def log_validation(self, record: dict[str, Any]) -> None:
        """One history record (end of an epoch or of a stopped run)."""
        values = validation_scalars(record)
        for backend in self._open():
            backend.log(values, int(record["global_step"]))
            backend.flush()

    def close(self) -> None:
        """Close the loggers (a later log opens them again)."""
        for backend in self.backends:
            backend.close()
        self.backends = []
