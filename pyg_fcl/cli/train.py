"""``pyg-fcl train``: train a model with flexible cutoffs (FCL) or one fixed cutoff (SCL).

The model comes from one of:

* ``--model-factory module:callable`` -- called as ``callable(r_max=, r_min=, elements=,
  edge_rule=, **MODEL_KWARGS)`` and returning an FCLModel; the default is the reference
  ``pyg_fcl_models:FCLMACE`` (installed with pyg-fcl's ``models/``), which also receives
  ``avg_num_neighbors`` measured on the training set at ``r_max`` unless given;
* ``--model-init CKPT`` -- any pyg-fcl checkpoint (architecture and weights), e.g. a freshly
  initialised model saved with ``pyg_fcl.save_model`` by a script, or a pretrained one.

``--init-from CKPT`` loads the weights of a checkpoint into the factory's model (fine-tuning, e.g.
the paper's recipe: pretrain at 6 Å with ``--fixed-cutoff 6 --r-max 7``, then FCL with
``--r-min 3.5 --init-from pretrain/best.pt``). ``--resume OUT/last.pt`` continues a run exactly:
the model and the run settings come from the checkpoint (give the data options again, or
``--config OUT/config.yaml``). An ``--out`` that holds a run is refused unless ``--resume`` or
``--overwrite`` is given. Ctrl-C (SIGINT) or SIGTERM finishes the current step, saves
``OUT/last.pt`` and prints the command that continues the run.
Multi-GPU / multi-node: launch the same command with ``torchrun --nproc_per_node=N -m pyg_fcl
train ...`` (``--batch-size`` is the global batch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..train.config_file import enable_config_file, save_resolved_config
from ._data_args import add_data_args, read_kwargs
from ._errors import EXIT_INTERRUPTED
from ._factory import DEFAULT_FACTORY, load_factory
from ._train_checks import (
    LR_SCALE_HELP,
    apply_resume_settings,
    check_new_run_args,
    lr_scale,
    model_kwargs,
    resume_command,
)
from ._types import nonnegative_float, nonnegative_int, positive_float, positive_int

_EXAMPLES = """examples:
  # FCL from scratch with the reference model, cutoffs U[3.5, 7] per atom
  pyg-fcl train --train data/mad_sample/train.xyz --val-fraction 0.1 \\
      --r-min 3.5 --r-max 7 --epochs 20 --out runs/fcl
  # SCL baseline at a fixed 5 Å (a model with r_max = 5)
  pyg-fcl train --train train.xyz --val val.xyz --fixed-cutoff 5 --out runs/scl5
  # the paper's recipe: pretrain at 6 Å (r_max 7), then FCL fine-tune
  pyg-fcl train --train train.xyz --val val.xyz --fixed-cutoff 6 --r-max 7 --out runs/pre
  pyg-fcl train --train train.xyz --val val.xyz --r-min 3.5 --r-max 7 \\
      --init-from runs/pre/best.pt --out runs/ft
  # a small reference model, MAD subsets, on 2 GPUs
  torchrun --nproc_per_node=2 -m pyg_fcl train --train mad/train --val mad/val \\
      --subsets MC3D SHIFTML-molcrys --model-kwargs '{"num_channels": 32, "l_max": 2}' \\
      --r-min 3.5 --r-max 7 --batch-size 32 --device cuda --out runs/mad
  # any model: a factory, or a checkpoint of an initialised model
  pyg-fcl train --train t.xyz --val v.xyz --model-factory mypkg.models:build --r-max 5 --r-min 3
  pyg-fcl train --train t.xyz --val v.xyz --model-init init.pt --out runs/x
  # options from a YAML file (keys: option names with _), flags override it
  pyg-fcl train --config run.yaml --epochs 50
  # on-disk data (pyg-fcl data pack), 8 tasks under SLURM without torchrun, TensorBoard logs
  srun --ntasks=8 pyg-fcl train --train mad.h5 --val-fraction 0.05 --r-min 3.5 --r-max 7 \\
      --batch-size 64 --device cuda --logger tensorboard --out runs/mad
  # continue an interrupted run: the model and run settings come from the checkpoint
  pyg-fcl train --train t.xyz --val v.xyz --resume runs/fcl/last.pt --out runs/fcl
  pyg-fcl train --config runs/fcl/config.yaml --resume runs/fcl/last.pt   # every option
  # start over in a directory that holds a run (otherwise refused)
  pyg-fcl train --train t.xyz --val v.xyz --r-min 3.5 --r-max 7 --out runs/fcl --overwrite
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train an FCL model (random per-atom cutoffs) or an SCL baseline",
        description=__doc__,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("data files")
    g.add_argument(
        "--train", nargs="+", required=True, help="training extxyz / packed .h5 files, MAD dirs"
    )
    g.add_argument("--val", nargs="+", help="validation files (or use --val-fraction)")
    g.add_argument("--val-fraction", type=positive_float, help="hold out this fraction of --train")
    add_data_args(p)
    g = p.add_argument_group("model")
    g.add_argument(
        "--model-factory", default=None, help=f"module:callable (default {DEFAULT_FACTORY})"
    )
    g.add_argument("--model-kwargs", default="{}", help="JSON keyword arguments of the factory")
    g.add_argument("--model-init", help="pyg-fcl checkpoint giving architecture and weights")
    g.add_argument("--init-from", help="checkpoint whose weights start the run (fine-tuning)")
    g.add_argument(
        "--resume",
        help="continue the run saved in this last.pt (model and settings come from it)",
    )
    g.add_argument("--edge-rule", default="mean", help="edge rule of a new model (default mean)")
    g = p.add_argument_group("cutoffs")
    g.add_argument(
        "--fixed-cutoff", type=positive_float, help="SCL: train at this global cutoff (Å)"
    )
    g.add_argument("--r-min", type=positive_float, help="FCL: smallest sampled cutoff (Å)")
    g.add_argument(
        "--r-max", type=positive_float, help="largest cutoff / model r_max (Å; default 6)"
    )
    g.add_argument("--sampler-mode", default="atom", help="atom | structure | element | mixture")
    g.add_argument(
        "--p-rmax", type=nonnegative_float, default=0.0, help="P(structure at r_max everywhere)"
    )
    g.add_argument(
        "--val-cutoffs", type=positive_float, nargs="+", help="global cutoffs to validate at"
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=positive_int, default=10)
    g.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps")
    g.add_argument(
        "--batch-size", type=positive_int, default=4, help="global batch size (default 4)"
    )
    g.add_argument("--val-batch-size", type=positive_int, default=8)
    g.add_argument("--lr", type=positive_float, default=5e-3)
    g.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    g.add_argument("--scheduler", default="cosine", help="cosine | plateau | constant")
    g.add_argument("--warmup-steps", type=nonnegative_int, default=0)
    g.add_argument("--grad-clip", type=float, default=10.0, help="max grad norm (<= 0: off)")
    g.add_argument("--ema-decay", type=nonnegative_float, default=0.99, help="EMA decay (0: off)")
    g.add_argument("--lr-scale", help=LR_SCALE_HELP)
    g.add_argument("--loss", default="mse", help="mse | huber | l1")
    g.add_argument("--energy-weight", type=nonnegative_float, default=1.0)
    g.add_argument("--forces-weight", type=nonnegative_float, default=10.0)
    g.add_argument("--stress-weight", type=nonnegative_float, default=0.0)
    g.add_argument(
        "--fit-normalization",
        choices=("auto", "yes", "no"),
        default="auto",
        help="fit reference energies/scale/shift (auto: unless the weights were trained)",
    )
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="output directory (checkpoints, metrics)")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an --out that holds a run (its checkpoints and metrics are deleted)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--checkpoint-every", type=positive_int, help="also save last.pt every N steps")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument(
        "--logger",
        nargs="+",
        choices=("csv", "tensorboard", "wandb"),
        default=["csv"],
        help="metric loggers besides metrics.csv/json (default csv: only those)",
    )
    g.add_argument(
        "--log-every", type=positive_int, default=1, help="log step metrics every N steps"
    )
    enable_config_file(p)
    p.set_defaults(run=run)
    return p


def build_model(args, train, val):
    """The model to train, from ``--model-init`` or the factory; returns ``(model, trained)``."""
    from .. import FCLModel, load_model
    from ..train import average_num_neighbors, dataset_elements

    if args.resume or args.model_init:  # architecture (and weights) from the checkpoint
        model = load_model(args.resume or args.model_init)
        model.train()
        return model, "train_config" in getattr(model, "checkpoint_meta", {})
    kwargs = model_kwargs(args.model_kwargs)
    r_max = args.r_max if args.r_max is not None else (args.fixed_cutoff or 6.0)
    r_min = args.r_min if args.fixed_cutoff is None else None
    if args.fixed_cutoff is None and r_min is None:
        raise ValueError("FCL training needs --r-min (or use --fixed-cutoff R for SCL)")
    spec = args.model_factory or DEFAULT_FACTORY
    factory = load_factory(spec)
    if spec == DEFAULT_FACTORY and "avg_num_neighbors" not in kwargs:
        kwargs["avg_num_neighbors"] = average_num_neighbors(train, r_max, args.edge_rule)
    try:
        model = factory(
            r_max=r_max,
            r_min=r_min,
            elements=dataset_elements(train, val or []),
            edge_rule=args.edge_rule,
            **kwargs,
        )
    except TypeError as err:
        raise ValueError(f"--model-kwargs {args.model_kwargs!r} do not fit {spec}: {err}") from None
    if not isinstance(model, FCLModel):
        raise ValueError(f"{spec} returned a {type(model).__name__}, not an FCLModel")
    return model, False


def run(args) -> int:
    import torch

    from ..train import TrainConfig, Trainer, read_training_data, split_structures
    from ..train.safety import TrainingInterrupted, check_init_weights, prepare_out_dir

    if args.resume:  # model and run settings from the checkpoint unless given explicitly
        saved = apply_resume_settings(args, add_parser)
    else:
        saved = None
        check_new_run_args(args)  # cutoffs, --val-cutoffs, files: before any data is read
    prepare_out_dir(args.out, resume=bool(args.resume), overwrite=args.overwrite)
    torch.manual_seed(args.seed)  # before the model is built: the same --seed, the same run
    train = read_training_data(args.train, args.subsets, **read_kwargs(args))
    val = read_training_data(args.val, args.subsets, **read_kwargs(args)) if args.val else None
    if args.val_fraction:
        if val is not None:
            raise ValueError("give either --val or --val-fraction, not both")
        train, val = split_structures(train, args.val_fraction, args.seed)
    model, trained = build_model(args, train, val)
    if args.init_from and not args.resume:
        from ..checkpoint import read_checkpoint

        weights = read_checkpoint(args.init_from)["state_dict"]
        check_init_weights(model, weights, f"--init-from {args.init_from}")
    fit = {"auto": None, "yes": True, "no": False}[args.fit_normalization]
    if fit is None and trained:
        fit = False
    cfg = TrainConfig(
        fixed_cutoff=args.fixed_cutoff,
        r_min=args.r_min,
        r_max=saved["r_max"] if saved else (args.r_max if args.model_init else None),
        sampler_mode=args.sampler_mode,
        p_rmax=args.p_rmax,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        val_batch_size=args.val_batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        scheduler=args.scheduler,
        warmup_steps=args.warmup_steps,
        grad_clip=args.grad_clip if args.grad_clip > 0 else None,
        ema_decay=args.ema_decay or None,
        lr_scale=lr_scale(args.lr_scale),
        loss=args.loss,
        energy_weight=args.energy_weight,
        forces_weight=args.forces_weight,
        stress_weight=args.stress_weight,
        fit_normalization=fit,
        val_cutoffs=args.val_cutoffs,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        checkpoint_every=args.checkpoint_every,
        init_from=args.init_from,
        progress=not args.no_progress,
        loggers=args.logger,
        log_every=args.log_every,
    )
    trainer = Trainer(model, train, val, cfg, resume_from=args.resume)
    if trainer.ctx.is_main:  # every option's value: `--config OUT/config.yaml` repeats the run
        save_resolved_config(args, Path(args.out) / "config.yaml")
    try:
        history = trainer.fit()
    except TrainingInterrupted as stop:
        if trainer.ctx.is_main:
            print(
                f"pyg-fcl train: stopped by {stop}; continue with:\n  "
                f"{resume_command(args, stop.checkpoint)}",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    if trainer.ctx.is_main:
        out = Path(args.out)
        print(f"trained {trainer.global_step} steps ({cfg.mode.upper()}); checkpoints in {out}/")
        if history and history[-1]["val"]:
            for cutoff, result in history[-1]["val"].items():
                m = result["overall"]
                print(
                    f"  val @ {cutoff} Å: energy RMSE {1000 * m['energy_rmse']:.1f} meV/atom, "
                    f"force RMSE {1000 * m['forces_rmse']:.1f} meV/Å, "
                    f"{m['pairs_per_atom']:.1f} pairs/atom"
                )
    trainer.ctx.close()  # every rank waits for rank 0's last writes
    return 0
