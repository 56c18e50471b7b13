"""Label-free FCL distillation of SevenNet-0 on the shipped MAD sample (train split).

The teacher is SevenNet-0 at its own 5 Å (``FlexibleSevenNet.from_pretrained("7net-0")`` with
every atom at 5 Å, which equals sevenn's calculator); it labels every training structure once
(energy, forces, stress; cached in ``OUT/teacher_labels_*.pt``). The student starts as a copy of
SevenNet-0 made cutoff-flexible (the same :class:`~pyg_fcl.nn.adapters.FlexibleSevenNet`, its
cutoff conditioning at zero) and is trained with per-atom cutoffs drawn in ``[--r-min, 5]`` Å,
a share ``--p-rmax`` of structures at 5 Å everywhere, against the teacher's labels. No DFT label
is read: ``data/mad_sample/train.xyz``'s labels are ignored.

``OUT/last.pt`` is written every ``--checkpoint-every`` steps; ``--resume OUT/last.pt``
continues the run exactly (a later session, the teacher labels read back from ``OUT``);
``--export OUT/last.pt`` writes the deployable ``OUT/model.pt`` (EMA weights, no optimizer);
``--init-from model.pt`` continues training from a deployed model with a fresh optimizer.

    nice -n 10 python models/pyg_fcl_models/pretrained/distill_sevennet_mad.py \\
        --out runs/sevennet_mad --max-steps 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pyg_fcl import load_model, save_model
from pyg_fcl.nn.adapters import FlexibleSevenNet
from pyg_fcl.train import TrainConfig, Trainer, read_training_data, split_structures

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data" / "mad_sample" / "train.xyz"


def export(checkpoint: str, out: Path) -> None:
    """``out/model.pt`` from a Trainer checkpoint: EMA weights, config and meta, no optimizer."""
    model = load_model(checkpoint)
    meta = dict(model.checkpoint_meta)
    info = out / "run_info.json"
    if info.is_file():
        meta.update(json.loads(info.read_text()))
    meta["exported_from"] = str(checkpoint)
    save_model(model, out / "model.pt", meta=meta)
    print(f"wrote {out / 'model.pt'} (global step {meta.get('global_step')})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="runs/sevennet_mad")
    p.add_argument("--data", default=str(DATA), help="unlabelled (or labelled) structures")
    p.add_argument("--teacher", default="7net-0", help="sevenn model name or checkpoint")
    p.add_argument("--r-min", type=float, default=3.0)
    p.add_argument("--p-rmax", type=float, default=0.25)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--stride", type=int, default=1, help="use every n-th structure of --data")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--stress-weight", type=float, default=0.0)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--resume", default=None, help="OUT/last.pt of an interrupted run")
    p.add_argument(
        "--init-from",
        default=None,
        help="start the student from these weights (e.g. the shipped sevennet0_distilled_mad.pt; "
        "a fresh optimizer and schedule)",
    )
    p.add_argument(
        "--anchor",
        action="store_true",
        help="student with anchor_r_max=True: its cutoff conditioning vanishes at 5 Å, so with "
        "--lr-scale sevennet.=0 it stays exactly the teacher there",
    )
    p.add_argument(
        "--lr-scale",
        nargs="*",
        default=[],
        metavar="PREFIX=FACTOR",
        help="learning-rate factors per parameter-name prefix, e.g. sevennet.=0 (frozen "
        "backbone) or sevennet.=0.1",
    )
    p.add_argument(
        "--val-cutoffs",
        type=float,
        nargs="+",
        default=None,
        help="global validation cutoffs, the first selects the best checkpoint (default: 5 4; "
        "with --anchor and a frozen backbone 5 Å never changes, so pass e.g. 4 3.5)",
    )
    p.add_argument("--export", default=None, help="only write OUT/model.pt from this checkpoint")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.export:
        export(args.export, out)
        return
    torch.set_num_threads(args.threads)
    unlabelled = dict(allow_missing_energy=True, allow_missing_forces=True)
    with torch.random.fork_rng(devices=[]):  # the unused cutoff-conditioning layers get the
        torch.manual_seed(0)  # same init every time: the teacher's fingerprint keys its labels
        teacher = FlexibleSevenNet.from_pretrained(args.teacher)
    frames = read_training_data(args.data, **unlabelled)[:: args.stride]
    known = set(teacher.elements)
    kept = [d for d in frames if set(d.z.tolist()) <= known]  # e.g. Rn is not in SevenNet-0
    train, val = split_structures(kept, args.val_fraction, seed=0)
    print(
        f"train {len(train)}, val {len(val)} structures (labels ignored; "
        f"{len(frames) - len(kept)} with elements SevenNet-0 does not know left out)"
    )
    student = FlexibleSevenNet.from_pretrained(
        args.teacher, r_min=args.r_min, anchor_r_max=args.anchor
    ).train()
    lr_scale = {}
    for item in args.lr_scale:
        prefix, sep, factor = item.rpartition("=")
        if not sep or not prefix:
            p.error(f"--lr-scale {item!r}: expected PREFIX=FACTOR, e.g. sevennet.=0")
        lr_scale[prefix] = float(factor)
    cfg = TrainConfig(
        r_min=args.r_min, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
        p_rmax=args.p_rmax, stress_weight=args.stress_weight, fit_normalization=False,
        val_cutoffs=args.val_cutoffs or [teacher.r_max, 4.0], teacher=args.teacher,
        out_dir=str(out),
        checkpoint_every=args.checkpoint_every, seed=0, init_from=args.init_from,
        lr_scale=lr_scale or None,
    )  # fmt: skip
    info = out / "run_info.json"
    saved = json.loads(info.read_text()) if info.is_file() else {}
    saved.update(
        teacher=f"{args.teacher} at {teacher.r_max:g} Å",
        student=f"FlexibleSevenNet initialised from {args.teacher}",
        data=Path(args.data).name,
        labels="none (the teacher's)", stride=args.stride,
        cutoff_range=[args.r_min, teacher.r_max], p_rmax=args.p_rmax, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, train_frames=len(train), val_frames=len(val),
        anchor_r_max=args.anchor, lr_scale=lr_scale,
    )  # fmt: skip
    start = time.time()
    trainer = Trainer(student, train, val, cfg, resume_from=args.resume, teacher=teacher)
    trainer.fit()
    sessions = saved.get("sessions", [])
    sessions.append({"steps_to": trainer.global_step, "time_s": round(time.time() - start, 1)})
    saved["sessions"] = sessions
    info.write_text(json.dumps(saved, indent=1))
    save_model(trainer.deploy_model(), out / "model.pt", meta=saved)
    print(json.dumps(saved))


if __name__ == "__main__":
    main()
