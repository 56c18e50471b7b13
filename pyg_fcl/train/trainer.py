"""The :class:`Trainer`: FCL (random per-atom cutoffs) and SCL (fixed cutoff) training of any
pyg-fcl model, single process or DDP."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Batch, Data

from ..checkpoint import atomic_torch_save, model_checkpoint, read_checkpoint
from ..data.packed import subset_labels
from ..data.views import IndexedStructures
from ..evaluate import ErrorSums, accumulate_errors
from ..model import FCLModel
from .batches import CutoffAssigner, GraphCache, describe, epoch_batches
from .config import RESUME_FIXED, TrainConfig
from .distributed import init_distributed
from .ema import ExponentialMovingAverage
from .loggers import MetricLoggers
from .losses import TERMS, combine_loss, loss_terms
from .metrics import epoch_line, write_metrics
from .normalization import fit_energy_normalization
from .param_groups import scaled_param_groups
from .prefetch import Prefetcher
from .safety import GracefulStop, TrainingInterrupted, check_val_cutoffs, check_writable
from .schedule import lr_factor
from .teacher import distillation_sets

__all__ = ["Trainer", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Training met a NaN/Inf loss or gradient; the last good checkpoint is left untouched."""


def _make_scheduler(optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )

    def factor(step: int) -> float:
        return lr_factor(
            step,
            scheduler=cfg.scheduler,
            warmup_steps=cfg.warmup_steps,
            min_lr_ratio=cfg.min_lr_ratio,
            total_steps=total_steps,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Trains a pyg-fcl model on labelled structures.

    FCL mode (``config.fixed_cutoff is None``): every step gives every atom of every structure a
    fresh cutoff from a :class:`~pyg_fcl.PerAtomCutoffSampler` in ``[r_min, r_max]``; the
    neighbour search runs once per structure at the model's ``r_max`` and is cached for the whole
    run, so each step only prunes. SCL mode: every atom gets ``fixed_cutoff``.

    Args:
        model (FCLModel): the model (its weights are trained in place).
        train (Sequence[Data]): training structures (from :func:`pyg_fcl.read_structures`).
        val (Sequence[Data], optional): validation structures, evaluated after every epoch at
            ``config.val_cutoffs`` with the EMA weights.
        config (TrainConfig): settings.
        resume_from (str, optional): a ``last.pt``/``best.pt`` written by a Trainer; the run
            continues exactly (same batches, cutoffs, optimizer, scheduler and EMA state).
        teacher (FCLModel or str, optional): label-free distillation (default
            ``config.teacher``): a frozen model, a pyg-fcl checkpoint or ``"7net-0"`` labels
            ``train`` and ``val`` once at its full cutoff (:mod:`pyg_fcl.train.teacher`), and the
            model trains against those labels.

    Example::

        trainer = Trainer(model, train, val, TrainConfig(r_min=3.5, epochs=20, out_dir="run"))
        history = trainer.fit()
    """

    def __init__(
        self,
        model: FCLModel,
        train: Sequence[Data],
        val: Sequence[Data] | None = None,
        config: TrainConfig | None = None,
        *,
        resume_from: str | Path | None = None,
        teacher: FCLModel | str | Path | None = None,
    ) -> None:
        if not isinstance(model, FCLModel):
            raise TypeError(f"Trainer needs an FCLModel, got {type(model).__name__}")
        if len(train) == 0:
            raise ValueError("Trainer got an empty training set")
        self.cfg = cfg = config or TrainConfig()
        self.ctx = init_distributed(cfg.device)
        if cfg.batch_size % self.ctx.world_size:
            raise ValueError(
                f"batch_size={cfg.batch_size} must be divisible by the number of processes "
                f"({self.ctx.world_size})"
            )
        torch.manual_seed(cfg.seed)
        self.model = model
        self.out_dir = Path(cfg.out_dir) if cfg.out_dir else None
        self._check_cutoffs()
        teacher = teacher if teacher is not None else cfg.teacher
        if teacher is not None:  # label-free distillation: the teacher's labels replace any
            train, val = distillation_sets(
                teacher,
                train,
                val,
                device=self.ctx.device,
                out_dir=self.out_dir,
                batch_size=cfg.teacher_batch_size,
                cache=cfg.teacher_cache,
                write=self.ctx.is_main,
                progress=cfg.progress and self.ctx.is_main,
                compute_stress=cfg.stress_weight > 0,
            )
        if cfg.init_from and resume_from is None:
            ckpt = read_checkpoint(cfg.init_from)
            model.load_state_dict(ckpt["state_dict"])
        fit_norm = cfg.fit_normalization
        if fit_norm is None:
            fit_norm = cfg.init_from is None and resume_from is None
        self.normalization = None
        if fit_norm:
            self.normalization = fit_energy_normalization(train, model.elements)
            self.normalization.apply(model)
        model.to(self.ctx.device)

        keep = cfg.cache_graphs
        self.train_set = GraphCache(train, model.r_max, model.edge_rule, keep=keep)
        self.val_set = GraphCache(val, model.r_max, model.edge_rule, keep=keep) if val else None
        self.prefetch = Prefetcher(self.train_set)  # on-disk data: next batch read during a step
        self.assigner = CutoffAssigner(
            cfg.fixed_cutoff, self.r_min, self.r_max, cfg.sampler_mode, cfg.p_rmax, cfg.seed
        )
        self.steps_per_epoch = len(
            epoch_batches(len(train), cfg.batch_size, cfg.seed, 0, 0, self.ctx.world_size)
        )
        # The LR schedule spans all epochs; max_steps only stops early (a resume continues it).
        self.schedule_steps = cfg.epochs * self.steps_per_epoch
        self.total_steps = self.schedule_steps
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.optimizer = torch.optim.AdamW(
            scaled_param_groups(model, cfg.lr, cfg.lr_scale), lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )  # fmt: skip
        self.scheduler = _make_scheduler(self.optimizer, cfg, self.schedule_steps)
        self.ema = ExponentialMovingAverage(model, cfg.ema_decay) if cfg.ema_decay else None
        self.weights = torch.tensor(
            [cfg.energy_weight, cfg.forces_weight, cfg.stress_weight], device=self.ctx.device
        )
        self.val_cutoffs = cfg.val_cutoffs or [
            cfg.fixed_cutoff if cfg.fixed_cutoff is not None else self.r_max
        ]
        # fail now, not after the first epoch
        check_val_cutoffs(
            self.val_cutoffs, model.r_min, model.r_max, getattr(model, "allow_below_r_min", False)
        )
        if self.out_dir is not None and self.ctx.is_main:
            check_writable(self.out_dir)
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.best_score = math.inf
        self.history: list[dict] = []
        self._train_sums = torch.zeros(2, len(TERMS), dtype=torch.float64)
        # TensorBoard / W&B next to metrics.csv (rank 0 writes; every rank joins the step sum)
        self.loggers = MetricLoggers(
            cfg.loggers, cfg.out_dir, cfg.to_dict(), self.ctx.is_main, cfg.log_every
        )
        if resume_from is not None:
            self._load_training_state(resume_from)
        self.ddp = (
            DistributedDataParallel(
                model, device_ids=[self.ctx.device] if self.ctx.device.type == "cuda" else None
            )
            if self.ctx.enabled
            else None
        )

    # ------------------------------------------------------------------ set-up
    def _check_cutoffs(self) -> None:
        cfg, model = self.cfg, self.model
        self.r_max = float(cfg.r_max if cfg.r_max is not None else model.r_max)
        if self.r_max > model.r_max:
            raise ValueError(f"r_max={self.r_max} exceeds the model's r_max={model.r_max}")
        if cfg.fixed_cutoff is not None:
            if cfg.fixed_cutoff > model.r_max:
                raise ValueError(
                    f"fixed_cutoff={cfg.fixed_cutoff} exceeds the model's r_max={model.r_max}"
                )
            self.r_min = self.r_max = float(cfg.fixed_cutoff)
            # a model of r_max 7 pretrained at 6 Å has seen 6 Å: its trained range starts there
            model.r_min = min(model.r_min, self.r_min)
            return
        r_min = cfg.r_min if cfg.r_min is not None else model.r_min
        if r_min >= self.r_max:
            raise ValueError(
                f"FCL training needs r_min < r_max, got r_min={r_min}, r_max={self.r_max} "
                "(a fixed-cutoff model: set TrainConfig.r_min, or use fixed_cutoff for SCL)"
            )
        self.r_min = float(r_min)
        model.r_min = self.r_min  # the trained range, recorded in checkpoints

    @property
    def _module(self) -> torch.nn.Module:
        return self.ddp if self.ddp is not None else self.model

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> dict:
        model = self.model
        raw = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        deploy = dict(raw)
        if self.ema is not None:
            deploy.update({k: v.detach().cpu().clone() for k, v in self.ema.shadow.items()})
        meta = {
            "mode": self.cfg.mode,
            "cutoff_range": [self.r_min, self.r_max],
            "epoch": self.epoch,
            "global_step": self.global_step,
            "train_config": self.cfg.to_dict(),
            "last_metrics": self.history[-1] if self.history else None,
        }
        ckpt = model_checkpoint(model, meta)
        ckpt["state_dict"] = deploy
        ckpt["training_state"] = {
            "raw_state_dict": raw,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_score": self.best_score,
            "config": self.cfg.to_dict(),
            "torch_rng": torch.get_rng_state(),
            "train_sums": self._train_sums.clone(),
            "history": self.history,
        }
        return ckpt

    def save(self, name: str = "last.pt") -> Path | None:
        """Write a checkpoint (rank 0, atomically) into ``out_dir``; returns its path."""
        if self.out_dir is None or not self.ctx.is_main:
            return None
        path = self.out_dir / name
        atomic_torch_save(self._checkpoint(), path)
        return path

    def _load_training_state(self, path: str | Path) -> None:
        ckpt = read_checkpoint(path, map_location="cpu")
        state = ckpt.get("training_state")
        if state is None:
            raise ValueError(f"{path} holds no training state (written by save_model?)")
        saved = state["config"]
        for name in RESUME_FIXED:
            if saved.get(name) != getattr(self.cfg, name):
                raise ValueError(
                    f"cannot resume from {path}: {name}={saved.get(name)!r} there but "
                    f"{getattr(self.cfg, name)!r} now (it decides the data order/cutoffs/loss)"
                )
        self.model.load_state_dict(state["raw_state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.best_score = float(state["best_score"])
        self.history = list(state["history"])
        self._train_sums = state["train_sums"].clone()
        torch.set_rng_state(state["torch_rng"])

    # ------------------------------------------------------------------ steps
    def _batch(self, indices: list[int]) -> Batch:
        read = self.prefetch.get(indices)
        items = [self.assigner(data, self.epoch, i) for data, i in zip(read, indices)]
        return Batch.from_data_list(items).to(self.ctx.device)

    def _guard(self, value: torch.Tensor, what: str, batch: Batch, indices: list[int]) -> None:
        bad = torch.tensor([0.0 if bool(torch.isfinite(value).all()) else 1.0])
        if float(self.ctx.all_reduce(bad.to(self.ctx.device)).sum()) == 0:
            return
        names = [describe(self.train_set.structures[i], i) for i in indices]
        suspects = [
            n
            for n, i in zip(names, indices)
            if not all(
                bool(torch.isfinite(self.train_set.structures[i][k]).all())
                for k in ("pos", "energy", "forces")
                if k in self.train_set.structures[i]
            )
        ]
        last = self.out_dir / "last.pt" if self.out_dir else None
        kept = f"last good checkpoint: {last}" if last and last.exists() else "no checkpoint yet"
        raise NonFiniteLossError(
            f"non-finite {what} at epoch {self.epoch}, step {self.step_in_epoch} of the epoch "
            f"(global step {self.global_step}) on rank {self.ctx.rank}; structures in the batch: "
            f"{', '.join(names)}"
            + (f"; with non-finite inputs/labels: {', '.join(suspects)}" if suspects else "")
            + f"; {kept} (not overwritten)"
        )

    def _train_step(self, indices: list[int]) -> float:
        cfg = self.cfg
        self.model.train()
        batch = self._batch(indices)
        stress = cfg.stress_weight > 0
        out = self._module(batch, compute_stress=stress)
        terms = loss_terms(out, batch, cfg.loss, cfg.huber_delta, stress)
        counts = self.ctx.all_reduce(terms.counts.to(self.ctx.device).clone())
        loss = combine_loss(terms.sums, counts, self.weights, scale=self.ctx.world_size)
        self._guard(loss.detach(), "loss", batch, indices)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = cfg.grad_clip if cfg.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self._guard(grad_norm.detach(), "gradient", batch, indices)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        if cfg.scheduler != "plateau":
            self.scheduler.step()
        self._train_sums[0] += terms.sums.detach().double().cpu()
        self._train_sums[1] += terms.counts.cpu()
        return float(loss.detach()) / self.ctx.world_size

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict:
        """Errors of the (EMA) model on the validation set at every ``val_cutoffs`` entry."""
        if self.val_set is None:
            return {}
        indices = range(self.ctx.rank, len(self.val_set), self.ctx.world_size)
        shard = IndexedStructures(self.val_set, indices)  # read batch by batch (lazy data)
        names = sorted(subset_labels(self.val_set.structures))  # packed: one column read
        results = {}
        context = self.ema.average_parameters(self.model) if self.ema is not None else nullcontext()
        with context:
            for cutoff in self.val_cutoffs:
                sums = (
                    accumulate_errors(
                        self.model,
                        shard,
                        cutoff,
                        batch_size=self.cfg.val_batch_size,
                        device=self.ctx.device,
                        compute_stress=self.cfg.stress_weight > 0,
                    )
                    if shard
                    else ErrorSums()
                )
                table = self.ctx.all_reduce(sums.table(names).to(self.ctx.device)).cpu()
                results[f"{cutoff:g}"] = ErrorSums.from_table(names, table).summary()
        return results

    def _score(self, val: dict, train: dict) -> float:
        if not val:
            return train["loss"]
        overall = next(iter(val.values()))["overall"]
        score = 0.0
        for term, weight in zip(TERMS, self.weights.tolist()):
            rmse = overall.get(f"{term}_rmse")
            if weight > 0 and rmse is not None:
                score += weight * rmse**2
        return score

    def _end_of_period(self, elapsed: float, partial: bool) -> None:
        sums = self.ctx.all_reduce(self._train_sums.to(self.ctx.device).clone()).cpu()
        train = {}
        for k, term in enumerate(TERMS):
            if sums[1, k] > 0:
                train[f"{term}_loss"] = float(sums[0, k] / sums[1, k])
        train["loss"] = sum(
            w * train.get(f"{t}_loss", 0.0) for t, w in zip(TERMS, self.weights.tolist())
        )
        val = self.validate()
        score = self._score(val, train)
        if self.cfg.scheduler == "plateau":
            self.scheduler.step(score)
        record = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "partial_epoch": partial,
            "lr": self.optimizer.param_groups[0]["lr"],
            "time_s": elapsed,
            "score": score,
            "train": train,
            "val": val,
        }
        self.history.append(record)
        self.loggers.log_validation(record)
        if self.ctx.is_main:
            from tqdm.auto import tqdm

            tqdm.write(epoch_line(record, self.cfg.epochs))
        improved = score < self.best_score
        if improved:
            self.best_score = score
        if self.out_dir is not None and self.ctx.is_main:
            write_metrics(self.out_dir, self.history, {"config": self.cfg.to_dict()})
            self.save("last.pt")
            if improved:
                self.save("best.pt")
        self.ctx.barrier()

    # ------------------------------------------------------------------ loop
    def fit(self) -> list[dict]:
        """Train until ``epochs`` (or ``max_steps``) are done; returns the metrics history.

        Raises:
            NonFiniteLossError: a NaN/Inf loss or gradient (names the step and structures).
            TrainingInterrupted: SIGINT (Ctrl-C) or SIGTERM; ``last.pt`` was saved after the
                step in progress, so ``resume_from`` continues the run exactly.
        """
        cfg, ctx = self.cfg, self.ctx
        bar = None
        if cfg.progress and ctx.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.total_steps,
                initial=self.global_step,
                unit="step",
                desc=f"{cfg.mode.upper()} train",
                dynamic_ncols=True,
            )
        start = time.perf_counter()
        stop = GracefulStop().__enter__()  # SIGINT/SIGTERM: finish the step, save, then stop
        try:
            while self.epoch < cfg.epochs and self.global_step < self.total_steps:
                batches = epoch_batches(
                    len(self.train_set),
                    cfg.batch_size,
                    cfg.seed,
                    self.epoch,
                    ctx.rank,
                    ctx.world_size,
                )
                while self.step_in_epoch < len(batches) and self.global_step < self.total_steps:
                    if self.step_in_epoch + 1 < len(batches):
                        self.prefetch.schedule(batches[self.step_in_epoch + 1])
                    loss = self._train_step(batches[self.step_in_epoch])
                    self.step_in_epoch += 1
                    self.global_step += 1
                    lr = self.optimizer.param_groups[0]["lr"]
                    self.loggers.log_step(self.global_step, loss, lr, ctx)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(
                            epoch=self.epoch,
                            loss=f"{loss:.4g}",
                            lr=f"{self.optimizer.param_groups[0]['lr']:.2e}",
                        )
                    if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                        self.save("last.pt")
                    if self._stop_requested(stop):
                        saved = self.save("last.pt")  # a resume continues bit-exactly from here
                        raise TrainingInterrupted(
                            stop.signal_name or "SIGINT", saved, self.global_step
                        )
                partial = self.step_in_epoch < len(batches)
                if not partial:
                    self.epoch += 1
                    self.step_in_epoch = 0
                self._end_of_period(time.perf_counter() - start, partial)
                self._train_sums.zero_()
                if partial:
                    break
        finally:
            stop.__exit__(None, None, None)
            if bar is not None:
                bar.close()
            self.loggers.close()
            self.prefetch.clear()
        return self.history

    def _stop_requested(self, stop: GracefulStop) -> bool:
        """Whether any process got SIGINT/SIGTERM (all processes stop at the same step)."""
        if not self.ctx.enabled:
            return stop.requested
        flag = torch.tensor([1.0 if stop.requested else 0.0], device=self.ctx.device)
        return float(self.ctx.all_reduce(flag).sum()) > 0

    def deploy_model(self) -> FCLModel:
        """The model with the EMA weights copied in (what ``best.pt``/``last.pt`` hold)."""
        if self.ema is not None:
            self.ema.copy_to(self.model)
        return self.model
