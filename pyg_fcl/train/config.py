"""Training settings as one plain dataclass (no registries, no YAML magic)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["TrainConfig"]

_SCHEDULERS = ("cosine", "plateau", "constant")
_LOSSES = ("mse", "huber", "l1")
_SAMPLER_MODES = ("atom", "structure", "element", "mixture")

# Fields that decide the data order, the cutoff draws or the loss: a resumed run must keep them.
RESUME_FIXED = (
    "seed",
    "batch_size",
    "fixed_cutoff",
    "r_min",
    "r_max",
    "sampler_mode",
    "p_rmax",
    "loss",
    "energy_weight",
    "forces_weight",
    "stress_weight",
    "teacher",
)


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Cutoffs (FCL vs SCL):
        fixed_cutoff: ``None`` trains with flexible cutoffs (FCL): every step draws new per-atom
            cutoffs in ``[r_min, r_max]``. A number trains a static-cutoff (SCL) model at that
            global cutoff (it may be below the model's ``r_max``, e.g. pretraining at 6 Å a model
            that will later be fine-tuned with FCL up to 7 Å).
        r_min, r_max: the FCL cutoff range (Å); default the model's ``r_min``/``r_max``.
        sampler_mode: ``"atom"`` (the paper), ``"structure"``, ``"element"`` or ``"mixture"``.
        p_rmax: probability that a structure is trained at ``r_max`` everywhere.

    Optimisation:
        epochs: passes over the training set (the LR schedule spans them). max_steps: optional
            cap on optimizer steps; it stops the run (mid-epoch if need be) without changing the
            schedule, so a later resume with a larger cap continues the same run.
        batch_size: structures per optimizer step, summed over all processes (DDP).
        lr, weight_decay: AdamW settings. scheduler: ``"cosine"`` (linear warm-up over
            ``warmup_steps``, cosine decay to ``lr * min_lr_ratio``), ``"plateau"``
            (ReduceLROnPlateau on the validation loss, ``plateau_factor``/``plateau_patience``)
            or ``"constant"``. grad_clip: max gradient norm (``None``: off).
        ema_decay: decay of the exponential moving average of the weights (``None``: off);
            validation and saved ``state_dict`` use the averaged weights.
        lr_scale: ``{parameter-name prefix: factor}``; a parameter whose name starts with a
            prefix (the longest one that matches) gets ``lr * factor``, and a factor of 0
            freezes it (``requires_grad`` off, left out of the optimizer). E.g. fine-tune a
            pretrained backbone slowly and its new cutoff conditioning fast:
            ``{"sevennet.": 0.1}``. Prefixes that match no parameter are an error.

    Loss (see :mod:`pyg_fcl.train.losses`):
        loss: ``"mse"``, ``"huber"`` (``huber_delta``) or ``"l1"``; weights of the energy per
        atom, force component and stress component terms. ``stress_weight > 0`` computes stress
        (frames without stress labels are masked).

    Distillation (label-free, :mod:`pyg_fcl.train.teacher`): teacher: a pyg-fcl checkpoint
        path or ``"7net-0"``; it labels the training and validation structures once at its full
        cutoff (energy, forces, and stress when ``stress_weight > 0``) and the model trains
        against those labels (``None``: the structures' own labels).
        teacher_batch_size: structures per teacher pass. teacher_cache: keep the labels in
        ``out_dir/teacher_labels_{train,val}.pt`` so that a resumed run does not recompute them.

    Normalisation: fit_normalization: fit per-element reference energies (least squares), the
        energy scale (force RMS) and shift on the training set; ``None`` means "unless the
        weights come from ``init_from`` or a resume".

    Validation: val_cutoffs: global cutoffs to validate at (default ``[r_max]`` for FCL,
        ``[fixed_cutoff]`` for SCL); the first one selects the best checkpoint (its weighted
        validation loss). val_batch_size: structures per validation batch.

    Logging: loggers: besides ``metrics.csv``/``metrics.json`` (always written), any of
        ``"tensorboard"`` and ``"wandb"`` (:mod:`pyg_fcl.train.loggers`): step loss and learning
        rate every ``log_every`` steps, every validation error per validation cutoff.

    Bookkeeping: seed, device (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``), out_dir
        (checkpoints ``last.pt``/``best.pt`` and ``metrics.csv``/``metrics.json``; ``None``
        writes nothing), checkpoint_every (also save ``last.pt`` every so many steps),
        init_from (a pyg-fcl checkpoint whose weights start the run: fine-tuning),
        progress (tqdm bar on rank 0), cache_graphs (keep every structure's ``r_max`` neighbour
        list in host memory for the whole run, about 44 bytes per edge; ``False`` searches again
        at every step, for datasets too large to cache).
    """

    fixed_cutoff: float | None = None
    r_min: float | None = None
    r_max: float | None = None
    sampler_mode: str = "atom"
    p_rmax: float = 0.0

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 4
    lr: float = 5e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    grad_clip: float | None = 10.0
    ema_decay: float | None = 0.99
    lr_scale: dict[str, float] | None = None

    loss: str = "mse"
    huber_delta: float = 0.01
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    stress_weight: float = 0.0

    fit_normalization: bool | None = None

    teacher: str | None = None
    teacher_batch_size: int = 8
    teacher_cache: bool = True

    val_cutoffs: list[float] | None = None
    val_batch_size: int = 8
    cache_graphs: bool = True

    loggers: list[str] | None = None
    log_every: int = 1

    seed: int = 0
    device: str = "auto"
    out_dir: str | None = None
    checkpoint_every: int | None = None
    init_from: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.scheduler not in _SCHEDULERS:
            raise ValueError(f"scheduler {self.scheduler!r} is not one of {_SCHEDULERS}")
        if self.loss not in _LOSSES:
            raise ValueError(f"loss {self.loss!r} is not one of {_LOSSES}")
        if self.sampler_mode not in _SAMPLER_MODES:
            raise ValueError(f"sampler_mode {self.sampler_mode!r} is not one of {_SAMPLER_MODES}")
        for name in ("epochs", "batch_size", "val_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.loggers is not None:
            self.loggers = [str(name) for name in self.loggers]
            unknown = sorted(set(self.loggers) - {"csv", "tensorboard", "wandb"})
            if unknown:
                raise ValueError(f"loggers {unknown} unknown; choose from csv, tensorboard, wandb")
        if int(self.log_every) < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every!r}")
        for name in ("max_steps", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value!r}")
        for name in ("fixed_cutoff", "r_min", "r_max"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
                raise ValueError(f"{name} must be a finite cutoff > 0 (Å), got {value!r}")
        if self.r_min is not None and self.r_max is not None and self.r_min > self.r_max:
            raise ValueError(f"r_min={self.r_min} is larger than r_max={self.r_max}")
        for name in ("lr", "energy_weight", "forces_weight", "stress_weight", "weight_decay"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay!r}")
        if int(self.teacher_batch_size) < 1:
            raise ValueError(f"teacher_batch_size must be >= 1, got {self.teacher_batch_size!r}")
        for name in ("out_dir", "init_from", "teacher"):
            if getattr(self, name) is not None:
                setattr(self, name, str(getattr(self, name)))
        if self.lr_scale is not None:
            if not isinstance(self.lr_scale, dict):
                raise ValueError(
                    f"lr_scale must be a {{prefix: factor}} dict, got {self.lr_scale!r}"
                )
            scales = {}
            for prefix, factor in self.lr_scale.items():
                factor = float(factor)
                if not (math.isfinite(factor) and factor >= 0):
                    raise ValueError(
                        f"lr_scale[{prefix!r}] must be finite and >= 0, got {factor!r}"
                    )
                scales[str(prefix)] = factor
            self.lr_scale = scales
        if self.val_cutoffs is not None:
            self.val_cutoffs = [float(c) for c in self.val_cutoffs]

    @property
    def mode(self) -> str:
        """``"scl"`` with a fixed cutoff, else ``"fcl"``."""
        return "fcl" if self.fixed_cutoff is None else "scl"

    def to_dict(self) -> dict[str, Any]:
        """Plain values (saved in checkpoints and ``metrics.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**values)
