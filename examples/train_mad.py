"""Train flexible-cutoff (FCL) and static-cutoff (SCL) models on MAD and evaluate them per subset.

MAD (Massive Atomic Diversity, Mazitov et al. 2025) is a set of extended-XYZ files whose frames
carry their subset name in ``info["subset"]`` (MC3D, MC3D-rattled, MC3D-random, MC3D-surface,
MC3D-cluster, MC2D, SHIFTML-molcrys, SHIFTML-molfrags). This script

1. reads train/validation/test files (``--train/--val/--test``, or ``--data-dir`` holding files
   whose names contain ``train``, ``val`` and ``test``); a missing validation or test file is
   split off the training file (``--val-fraction``, ``--test-fraction``);
2. keeps the chosen ``--subsets`` (default: all);
3. trains the reference MACE-style model (``pyg_fcl_models.FCLMACE``) with FCL, either from
   scratch (``--recipe scratch``) or the paper's way (``--recipe finetune``: pretrain at a fixed
   ``--pretrain-cutoff`` with the FCL ``r_max``, then fine-tune with random per-atom cutoffs),
   or by label-free distillation (``--recipe distill``: an SCL teacher at ``r_max``, then an FCL
   student, from the teacher's weights or ``--student-init scratch``, trained against the
   teacher's labels);
4. optionally trains SCL baselines, one model per ``--scl-cutoffs`` value (``r_max`` = that
   cutoff), with the same budget;
5. evaluates every model on the test set per subset at ``--eval-cutoffs`` and writes
   ``OUT/results.json`` plus a table.

Quick run on the shipped sample (a few minutes on 2 CPU cores)::

    python examples/train_mad.py --data-dir data/mad_sample --size tiny --max-structures 120 \\
        --epochs 2 --scl-cutoffs 5 --out runs/mad_demo

Full MAD on one GPU (documented settings; about 95k structures)::

    python examples/train_mad.py --train mad-train.xyz --val mad-val.xyz --test mad-test.xyz \\
        --size paper --recipe finetune --pretrain-epochs 100 --epochs 100 --batch-size 16 \\
        --lr 5e-3 --r-min 3.5 --r-max 7 --device cuda --out runs/mad_full

On several GPUs, launch the same command with ``torchrun --nproc_per_node=N`` (the batch size is
global). Uses only the public API of ``pyg_fcl`` and ``pyg_fcl_models``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pyg_fcl import MAD_SUBSETS, normalize_subset
from pyg_fcl.evaluate import evaluate
from pyg_fcl.train import (
    TrainConfig,
    Trainer,
    average_num_neighbors,
    dataset_elements,
    read_training_data,
    split_structures,
)

#: FCLMACE settings by size. "paper" follows the FCL paper's MACE scale (128 channels, l_max 3,
#: correlation 3, 2 layers); "small" is the NOTES.md CPU model; "tiny" is for smoke tests.
SIZES = {
    "tiny": dict(
        num_channels=8,
        l_max=1,
        hidden_l_max=0,
        correlation=2,
        num_interactions=2,
        radial_mlp=[16, 16],
        readout_hidden=8,
        cutoff_embedding_hidden=8,
    ),
    "small": dict(
        num_channels=32,
        l_max=2,
        hidden_l_max=1,
        correlation=3,
        num_interactions=2,
        radial_mlp=[32, 32, 32],
    ),
    "medium": dict(
        num_channels=64,
        l_max=3,
        hidden_l_max=1,
        correlation=3,
        num_interactions=2,
        radial_mlp=[64, 64, 64],
    ),
    "paper": dict(
        num_channels=128,
        l_max=3,
        hidden_l_max=1,
        correlation=3,
        num_interactions=2,
        radial_mlp=[64, 64, 64],
    ),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="directory with *train*, *val*, *test* extxyz files")
    p.add_argument("--train", nargs="+", help="training files")
    p.add_argument("--val", nargs="+", help="validation files")
    p.add_argument("--test", nargs="+", help="test files")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument(
        "--subsets", nargs="+", help=f"MAD subsets (default all: {' '.join(MAD_SUBSETS)})"
    )
    p.add_argument("--max-structures", type=int, help="subsample the training set (quick runs)")
    p.add_argument("--max-test", type=int, help="evaluate on at most this many test structures")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--model-kwargs", default="{}", help="JSON overrides of the FCLMACE settings")
    p.add_argument(
        "--recipe",
        choices=("scratch", "finetune", "distill"),
        default="scratch",
        help="scratch: FCL from scratch; finetune: SCL pretraining at --pretrain-cutoff, then FCL "
        "from its weights; distill: an SCL teacher at r_max, then an FCL student trained against "
        "the teacher's labels (label-free distillation)",
    )
    p.add_argument("--pretrain-cutoff", type=float, default=6.0)
    p.add_argument(
        "--student-init",
        choices=("teacher", "scratch"),
        default="teacher",
        help="distill: start the student from the teacher's weights (default) or from scratch",
    )
    p.add_argument("--pretrain-epochs", type=int, default=None, help="default: --epochs")
    p.add_argument("--r-min", type=float, default=3.5)
    p.add_argument("--r-max", type=float, default=7.0)
    p.add_argument("--sampler-mode", default="atom", help="atom | structure | element | mixture")
    p.add_argument("--p-rmax", type=float, default=0.0, help="P(structure trained at r_max)")
    p.add_argument(
        "--no-fcl",
        action="store_true",
        help="train only the SCL baselines (e.g. in a second process next to the FCL run)",
    )
    p.add_argument("--scl-cutoffs", type=float, nargs="*", default=[], help="SCL baselines")
    p.add_argument("--eval-cutoffs", type=float, nargs="+", help="default: 3.5, 4, ... r_max")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-steps", type=int, help="cap on optimizer steps per training run")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--forces-weight", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0, help="model initialisation, data order, cutoffs")
    p.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="seed of the fraction splits: fixed by default, so runs with different --seed "
        "are scored on the same test frames",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", default="runs/mad")
    args = p.parse_args(argv)
    if args.no_fcl and not args.scl_cutoffs:
        p.error("--no-fcl trains only SCL baselines: give them with --scl-cutoffs")
    return args


def _find(directory: Path, word: str) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.suffix in (".xyz", ".extxyz") and word in p.name
    )


def load_splits(args):
    """Train, validation and test structures (files, a directory, or fractions of train)."""
    train_files, val_files, test_files = args.train, args.val, args.test
    if args.data_dir:
        d = Path(args.data_dir)
        train_files = train_files or _find(d, "train")
        val_files = val_files or _find(d, "val") or None
        test_files = test_files or _find(d, "test") or None
    if not train_files:
        raise SystemExit("no training data: give --train or a --data-dir with a *train* file")
    subsets = [normalize_subset(s) for s in args.subsets] if args.subsets else None
    train = read_training_data(train_files, subsets)
    test = read_training_data(test_files, subsets) if test_files else None
    val = read_training_data(val_files, subsets) if val_files else None
    if test is None:
        train, test = split_structures(train, args.test_fraction, args.split_seed + 1)
    if val is None:
        train, val = split_structures(train, args.val_fraction, args.split_seed)
    if args.max_structures and len(train) > args.max_structures:
        step = len(train) / args.max_structures
        train = [train[int(k * step)] for k in range(args.max_structures)]
        val = val[: max(1, args.max_structures // 5)]
    if args.max_test and len(test) > args.max_test:
        step = len(test) / args.max_test
        test = [test[int(k * step)] for k in range(args.max_test)]
    return train, val, test


def build_model(args, elements, r_max, r_min, avg_neighbors):
    from pyg_fcl_models import FCLMACE

    kwargs = {**SIZES[args.size], **json.loads(args.model_kwargs)}
    kwargs.setdefault("avg_num_neighbors", avg_neighbors)
    torch.manual_seed(args.seed)
    return FCLMACE(r_max=r_max, r_min=r_min, elements=elements, **kwargs)


def train_one(args, name, model, train, val, **overrides) -> str:
    cfg = dict(
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        forces_weight=args.forces_weight,
        seed=args.seed,
        device=args.device,
        out_dir=str(Path(args.out) / name),
        progress=not args.no_progress,
    )
    cfg.update(overrides)
    trainer = Trainer(model, train, val, TrainConfig(**cfg))
    trainer.fit()
    return cfg["out_dir"] + "/best.pt"


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    train, val, test = load_splits(args)
    elements = dataset_elements(train, val, test)
    print(
        f"train {len(train)}, val {len(val)}, test {len(test)} structures, {len(elements)} elements"
    )
    avg = average_num_neighbors(train, args.r_max)
    checkpoints = {}

    # FCL model
    fcl_cfg = dict(
        r_min=args.r_min,
        sampler_mode=args.sampler_mode,
        p_rmax=args.p_rmax,
        val_cutoffs=[args.r_max, args.r_min],
    )
    model = None if args.no_fcl else build_model(args, elements, args.r_max, args.r_min, avg)
    if model is not None and args.recipe in ("finetune", "distill"):
        # distill: the teacher is an SCL model at r_max (its own full cutoff)
        pre_cutoff = args.r_max if args.recipe == "distill" else args.pretrain_cutoff
        pre = train_one(
            args,
            "pretrain",
            model,
            train,
            val,
            fixed_cutoff=pre_cutoff,
            epochs=args.pretrain_epochs or args.epochs,
        )
        model = build_model(args, elements, args.r_max, args.r_min, avg)
        if args.recipe == "finetune" or args.student_init == "teacher":
            fcl_cfg.update(init_from=pre)
        if args.recipe == "distill":
            fcl_cfg.update(teacher=pre)
        checkpoints[f"SCL {pre_cutoff:g} (pretrain)"] = pre
    if model is not None:
        checkpoints["FCL"] = train_one(args, "fcl", model, train, val, **fcl_cfg)

    # SCL baselines: one model per cutoff, r_max = that cutoff, same budget
    for cutoff in args.scl_cutoffs:
        scl = build_model(args, elements, cutoff, None, average_num_neighbors(train, cutoff))
        checkpoints[f"SCL {cutoff:g}"] = train_one(
            args, f"scl_{cutoff:g}", scl, train, val, fixed_cutoff=cutoff
        )

    # evaluation on the test set, per subset, at global cutoffs
    from pyg_fcl import load_model

    eval_cutoffs = args.eval_cutoffs or sorted(
        {*torch.arange(args.r_min, args.r_max + 1e-6, 0.5).tolist(), args.r_max}
    )
    eval_cutoffs = sorted({round(c, 6) for c in [*eval_cutoffs, *args.scl_cutoffs]})
    results = {}
    for name, path in checkpoints.items():
        model = load_model(path)
        cutoffs = [c for c in eval_cutoffs if c <= model.r_max + 1e-9]
        if name.startswith("SCL"):
            cutoffs = [model.r_max if "pretrain" not in name else float(name.split()[1])]
        results[name] = {
            f"{c:g}": evaluate(model, test, c, batch_size=args.batch_size, device=args.device)
            for c in cutoffs
        }
    (out / "results.json").write_text(
        json.dumps({"checkpoints": checkpoints, "results": results}, indent=1)
    )
    print(f"\ntest errors ({len(test)} structures), per group: force RMSE meV/Å | ", end="")
    print("energy RMSE meV/atom | pairs per atom")
    for name, by_cutoff in results.items():
        for cutoff, res in by_cutoff.items():
            groups = {"all": res["overall"], **res["subsets"]}
            cells = "  ".join(
                f"{g}: {1000 * m['forces_rmse']:.0f} | {1000 * m['energy_rmse']:.0f} | "
                f"{m['pairs_per_atom']:.0f}"
                for g, m in groups.items()
            )
            print(f"{name:<22} @ {cutoff:>4} Å  {cells}")
    return results


if __name__ == "__main__":
    main()
