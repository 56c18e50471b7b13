"""``pyg-fcl distill``: label-free FCL distillation of a frozen teacher into a cutoff-flexible
student.

The teacher (``--teacher``: ``7net-0``, i.e. SevenNet-0 at its 5 Å, or any pyg-fcl checkpoint at
its ``r_max``) labels every structure once (energy, forces, and stress with ``--stress-weight``;
a progress bar; kept in ``OUT/teacher_labels_*.pt`` so ``--resume`` does not recompute them).
The student then trains with per-atom cutoffs drawn in ``[--r-min, --r-max]`` as in FCL,
against the teacher's labels. The structures need no labels (any they carry are ignored): e.g.
snapshots of your own system from ``pyg-fcl md --model TEACHER --trajectory snapshots.xyz``.

The student (``--student``):

* ``copy`` (default): a copy of the teacher, made cutoff-flexible by the pyg-fcl model template
  (for ``7net-0``: ``FlexibleSevenNet`` initialised from SevenNet-0);
* ``reference``: a new reference model ``pyg_fcl_models:FCLMACE`` (``--model-kwargs``);
* ``module:callable``: a factory called as ``callable(r_max=, r_min=, elements=, edge_rule=,
  **MODEL_KWARGS)``;
* ``PATH.pt``: any pyg-fcl checkpoint (architecture and weights, e.g. a ``FlexibleSchNet`` saved
  with ``pyg_fcl.save_model``).

Validation structures are labelled by the teacher too: the validation errors printed and logged
are deviations from the teacher. ``pyg-fcl evaluate`` scores the result against DFT labels.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from ._errors import EXIT_INTERRUPTED
from ._train_checks import LR_SCALE_HELP, lr_scale, model_kwargs

_EXAMPLES = """examples:
  # SevenNet-0 (5 Å) -> cutoff-flexible SevenNet-0, per-atom cutoffs U[3, 5] Å, 25 % at 5 Å
  pyg-fcl distill --teacher 7net-0 --data snapshots.xyz --val-fraction 0.1 \\
      --r-min 3 --p-rmax 0.25 --epochs 5 --out runs/distill_7net
  # make the snapshots first: MD with the teacher, every 10th step saved as extxyz
  pyg-fcl md --model teacher.pt --structure crystal.xyz --steps 2000 \\
      --trajectory snapshots.xyz --save-every 10
  # teacher-preserving: only the new cutoff conditioning trains, gated to vanish at 5 Å, so the
  # student stays exactly SevenNet-0 there (no structure needs r_max: --p-rmax 0)
  pyg-fcl distill --teacher 7net-0 --data snapshots.xyz --val-fraction 0.1 --r-min 3 \\
      --model-kwargs '{"anchor_r_max": true}' --lr-scale '{"sevennet.": 0}' \\
      --p-rmax 0 --lr 2e-3 --val-cutoffs 4 5 --out runs/distill_anchored
  # a fixed-cutoff pyg-fcl model as teacher, a new reference FCL-MACE as student
  pyg-fcl distill --teacher runs/scl5/best.pt --data train.xyz --val val.xyz \\
      --student reference --model-kwargs '{"num_channels": 16}' --r-min 2.5 --out runs/d
  # a PyG adapter as student (a checkpoint of an initialised FlexibleSchNet)
  pyg-fcl distill --teacher runs/scl5/best.pt --data train.xyz --val-fraction 0.1 \\
      --student schnet_init.pt --r-min 3 --out runs/d_schnet
  # continue an interrupted run (teacher labels are read back from runs/d/); --overwrite
  # starts over in a folder that holds a run
  pyg-fcl distill --teacher runs/scl5/best.pt --data train.xyz --val val.xyz \\
      --student reference --r-min 2.5 --out runs/d --resume runs/d/last.pt
"""

REFERENCE = "pyg_fcl_models:FCLMACE"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "distill",
        help="label-free FCL distillation of a frozen teacher into a cutoff-flexible student",
        description=__doc__,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("teacher and student")
    g.add_argument("--teacher", required=True, help="7net-0 | pyg-fcl checkpoint (at its r_max)")
    g.add_argument("--student", default="copy", help="copy | reference | module:callable | CKPT.pt")
    g.add_argument(
        "--model-kwargs",
        default="{}",
        help="JSON keyword arguments of a new student; with copy: constructor arguments to change",
    )
    g.add_argument("--edge-rule", default=None, help="edge rule of a new student (default mean)")
    g.add_argument("--teacher-batch-size", type=int, default=8, help="structures per teacher pass")
    g.add_argument("--resume", help="continue the run saved in this last.pt/best.pt")
    g.add_argument(
        "--overwrite", action="store_true", help="start over in an --out that holds a run"
    )
    g = p.add_argument_group("structures (labels not needed)")
    g.add_argument("--data", nargs="+", required=True, help="extxyz files / MAD directories")
    g.add_argument("--val", nargs="+", help="validation structures (or --val-fraction)")
    g.add_argument("--val-fraction", type=float, help="hold out this fraction of --data")
    g.add_argument("--subsets", nargs="+", help="keep only these MAD subsets")
    g.add_argument(
        "--drop-unknown",
        action="store_true",
        help="leave out structures with elements the teacher does not know (counted; default: "
        "an error naming the first such structure)",
    )
    g = p.add_argument_group("cutoffs")
    g.add_argument("--r-min", type=float, required=True, help="smallest sampled cutoff (Å)")
    g.add_argument("--r-max", type=float, help="largest cutoff (Å; default the teacher's r_max)")
    g.add_argument("--sampler-mode", default="atom", help="atom | structure | element | mixture")
    g.add_argument("--p-rmax", type=float, default=0.25, help="P(structure at r_max; default 0.25)")
    g.add_argument("--val-cutoffs", type=float, nargs="+", help="global cutoffs to validate at")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    g.add_argument("--batch-size", type=int, default=4, help="global batch size (default 4)")
    g.add_argument(
        "--lr", type=float, help="learning rate (default 5e-3; 1e-3 for a trained student)"
    )
    g.add_argument("--scheduler", default="cosine", help="cosine | plateau | constant")
    g.add_argument("--warmup-steps", type=int, default=0)
    g.add_argument("--ema-decay", type=float, default=0.99, help="EMA decay (0: off)")
    g.add_argument("--lr-scale", help=LR_SCALE_HELP)
    g.add_argument("--loss", default="mse", help="mse | huber | l1")
    g.add_argument("--energy-weight", type=float, default=1.0)
    g.add_argument("--forces-weight", type=float, default=10.0)
    g.add_argument("--stress-weight", type=float, default=0.0)
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="output directory (checkpoints, labels, metrics)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--checkpoint-every", type=int, help="also save last.pt every N steps")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)
    return p


def build_student(args, teacher, train, val):
    """The student model from ``--student``; returns ``(model, has_trained_weights)``."""
    from .. import FCLModel, load_model
    from ..train import average_num_neighbors, dataset_elements
    from ._factory import load_factory

    kwargs = model_kwargs(args.model_kwargs)
    if args.student == "copy":
        if not kwargs:
            return copy.deepcopy(teacher).train(), True
        # the teacher's architecture with some constructor arguments changed, its weights
        config = {**teacher.config(), **kwargs}
        try:
            student = type(teacher)(**config)
        except TypeError as err:
            raise ValueError(
                f"--model-kwargs {args.model_kwargs!r} do not fit {type(teacher).__name__}: {err}"
            ) from None
        student.load_state_dict(teacher.state_dict())
        return student.to(next(teacher.parameters()).device).train(), True
    if args.student.endswith((".pt", ".pth")) or Path(args.student).is_file():
        model = load_model(args.student)
        return model.train(), "train_config" in getattr(model, "checkpoint_meta", {})
    spec = REFERENCE if args.student == "reference" else args.student
    factory = load_factory(spec)
    r_max = args.r_max or teacher.r_max
    edge_rule = args.edge_rule or teacher.edge_rule
    if spec == REFERENCE and "avg_num_neighbors" not in kwargs:
        kwargs["avg_num_neighbors"] = average_num_neighbors(train, r_max, edge_rule)
    elements = sorted(set(dataset_elements(train, val or [])) | set(teacher.elements))
    model = factory(r_max=r_max, r_min=args.r_min, elements=elements, edge_rule=edge_rule, **kwargs)
    if not isinstance(model, FCLModel):
        raise ValueError(f"--student {spec} returned a {type(model).__name__}, not an FCLModel")
    return model, False


def run(args) -> int:
    import torch

    from ..device import resolve_device
    from ..train import TrainConfig, Trainer, read_training_data, split_structures
    from ..train.safety import TrainingInterrupted, prepare_out_dir
    from ..train.teacher import load_teacher

    if args.threads:
        torch.set_num_threads(args.threads)
    prepare_out_dir(args.out, resume=bool(args.resume), overwrite=args.overwrite)
    torch.manual_seed(args.seed)  # before a new student is built: the same --seed, the same run
    unlabelled = dict(allow_missing_energy=True, allow_missing_forces=True)
    train = read_training_data(args.data, args.subsets, **unlabelled)
    val = read_training_data(args.val, args.subsets, **unlabelled) if args.val else None
    if args.val_fraction:
        if val is not None:
            raise ValueError("give either --val or --val-fraction, not both")
        train, val = split_structures(train, args.val_fraction, args.seed)
    teacher = load_teacher(args.teacher, resolve_device(args.device))
    if args.drop_unknown:
        known = set(teacher.elements)
        sizes = (len(train), len(val or []))
        train = [d for d in train if set(d.z.tolist()) <= known]
        val = None if val is None else [d for d in val if set(d.z.tolist()) <= known]
        dropped = sizes[0] - len(train) + sizes[1] - len(val or [])
        print(f"distill: {dropped} structures with elements the teacher does not know left out")
    print(
        f"distill: teacher {args.teacher} ({type(teacher).__name__}, r_max {teacher.r_max:g} Å), "
        f"{len(train)} training and {len(val or [])} validation structures"
    )
    student, trained = build_student(args, teacher, train, val)
    lr = args.lr if args.lr is not None else (1e-3 if trained else 5e-3)
    cfg = TrainConfig(
        r_min=args.r_min,
        r_max=args.r_max,
        sampler_mode=args.sampler_mode,
        p_rmax=args.p_rmax,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=lr,
        scheduler=args.scheduler,
        warmup_steps=args.warmup_steps,
        ema_decay=args.ema_decay or None,
        lr_scale=lr_scale(args.lr_scale),
        loss=args.loss,
        energy_weight=args.energy_weight,
        forces_weight=args.forces_weight,
        stress_weight=args.stress_weight,
        fit_normalization=not trained,
        val_cutoffs=args.val_cutoffs,
        teacher=str(args.teacher),
        teacher_batch_size=args.teacher_batch_size,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
    )
    trainer = Trainer(student, train, val, cfg, resume_from=args.resume, teacher=teacher)
    try:
        history = trainer.fit()
    except TrainingInterrupted as stop:
        if trainer.ctx.is_main:
            print(
                f"pyg-fcl distill: stopped by {stop}; continue with the same command and "
                f"--resume {stop.checkpoint}",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    if trainer.ctx.is_main:
        print(f"distilled {trainer.global_step} steps; checkpoints in {Path(args.out)}/")
        for cutoff, result in (history[-1]["val"] if history else {}).items():
            m = result["overall"]
            print(
                f"  deviation from the teacher @ {cutoff} Å: energy RMSE "
                f"{1000 * m['energy_rmse']:.1f} meV/atom, force RMSE "
                f"{1000 * m['forces_rmse']:.1f} meV/Å, {m['pairs_per_atom']:.1f} pairs/atom"
            )
    trainer.ctx.close()  # every rank waits for rank 0's last writes
    return 0
