"""FCL fine-tuning of SevenNet-0 with labels on the X23 molecular crystals of ``data/molcrys_x23``
(vdW-DF2), with the same split as the FCL-MACE demonstration model (``train_molcrys_fcl.py``).

SevenNet-0 (PBE, MPtrj) starts as :class:`~pyg_fcl.nn.adapters.FlexibleSevenNet` (exactly
SevenNet-0 at 5 Å); per-element energy offsets between the two levels of theory are fitted first
by least squares on every ``--offset-stride``-th training frame (the network is not touched), then
all weights are trained with per-atom cutoffs drawn in ``[r_min, 5]`` Å and a share ``--p-rmax``
of structures at 5 Å everywhere. ``OUT/last.pt`` is written every ``--checkpoint-every`` steps;
``--resume OUT/last.pt`` continues the run exactly (across sessions), ``--export OUT/last.pt``
writes the deployable ``OUT/model.pt`` (EMA weights, no optimizer state) from an interrupted run.

    nice -n 10 python models/pyg_fcl_models/pretrained/train_sevennet_x23.py --out runs/sevennet_x23
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import ase.io
import torch
from tqdm.auto import tqdm

from pyg_fcl import load_model, save_model
from pyg_fcl.nn.adapters import FlexibleSevenNet
from pyg_fcl.train import TrainConfig, Trainer, fit_energy_normalization

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_molcrys_fcl import DATA, split  # noqa: E402  (the same split as the MACE model)

ELEMENTS = (1, 6, 7, 8)


def fit_energy_offsets(model: FlexibleSevenNet, frames: list) -> dict:
    """Per-element offsets ``E_DFT - E_SevenNet`` (least squares) written into ``model``'s
    reference energies (scale 1: SevenNet keeps its own per-species scale and shift)."""
    residuals = []
    for data in tqdm(frames, desc="energy offsets", unit="frame"):
        with torch.no_grad():
            predicted = model(data)["energy"]
        r = data.clone()
        r.energy = data.energy - predicted.to(data.energy.dtype)
        residuals.append(r)
    fit = fit_energy_normalization(residuals, model.elements)
    model.set_energy_normalization(fit.atomic_energies, scale=1.0, shift=fit.shift)
    return {"atomic_energies": fit.atomic_energies, "shift": fit.shift, "frames": len(frames)}


def export(checkpoint: str, out: Path, extra: dict) -> None:
    """``out/model.pt`` from a Trainer checkpoint: EMA weights, config and meta, no optimizer."""
    model = load_model(checkpoint)
    meta = dict(model.checkpoint_meta)
    meta.pop("train_config", None)
    info = out / "run_info.json"
    if info.is_file():
        meta.update(json.loads(info.read_text()))
    meta.update(extra)
    save_model(model, out / "model.pt", meta=meta)
    print(f"wrote {out / 'model.pt'} (global step {meta.get('global_step')})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="runs/sevennet_x23")
    p.add_argument("--pretrained", default="7net-0", help="sevenn model name or checkpoint")
    p.add_argument("--r-min", type=float, default=2.5)
    p.add_argument("--p-rmax", type=float, default=0.25)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--train-stride", type=int, default=4)
    p.add_argument("--val-stride", type=int, default=4)
    p.add_argument("--offset-stride", type=int, default=25)
    p.add_argument("--checkpoint-every", type=int, default=15)
    p.add_argument("--hold-out", nargs="*", default=["13_naphthalene"])
    p.add_argument("--resume", default=None, help="OUT/last.pt of an interrupted run")
    p.add_argument(
        "--init-from",
        default=None,
        help="start from these weights (e.g. the shipped sevennet0_fcl_x23.pt, whose energy "
        "offsets it keeps; a fresh optimizer and schedule)",
    )
    p.add_argument("--energy-weight", type=float, default=1.0, help="loss weight of E/atom")
    p.add_argument("--forces-weight", type=float, default=10.0)
    p.add_argument("--export", default=None, help="only write OUT/model.pt from this checkpoint")
    p.add_argument(
        "--zero-shot",
        action="store_true",
        help="only write OUT/zero_shot.pt: the untouched SevenNet-0 with the fitted energy "
        "offsets (from OUT/run_info.json if there) and r_min, to evaluate it truncated",
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.export:
        export(args.export, out, {"exported_from": args.export})
        return
    torch.set_num_threads(args.threads)
    train, val, test, test_atoms = split(args.train_stride, args.val_stride, tuple(args.hold_out))
    ase.io.write(out / "test.xyz", test_atoms, format="extxyz")
    print(f"train {len(train)}, val {len(val)}, test {len(test)} frames")
    model = FlexibleSevenNet.from_pretrained(args.pretrained, r_min=args.r_min, elements=ELEMENTS)
    offsets = None
    info = out / "run_info.json"
    if args.init_from is not None:
        # the offsets are buffers of the checkpoint the Trainer loads; keep their record
        offsets = load_model(args.init_from).checkpoint_meta.get("energy_offsets")
    elif (
        args.resume is None and info.is_file() and "energy_offsets" in json.loads(info.read_text())
    ):
        # reuse the offsets of an earlier start in OUT (they depend only on the split)
        offsets = json.loads(info.read_text())["energy_offsets"]
        energies = {int(z): e for z, e in offsets["atomic_energies"].items()}
        model.set_energy_normalization(energies, scale=1.0, shift=offsets["shift"])
    elif args.resume is None:
        start = time.time()
        offsets = fit_energy_offsets(model, train[:: args.offset_stride])
        offsets["time_s"] = time.time() - start
        print(json.dumps(offsets))
    if args.zero_shot:
        meta = {"pretrained": args.pretrained, "energy_offsets": offsets, "trained": False}
        save_model(model, out / "zero_shot.pt", meta=meta)
        print(f"wrote {out / 'zero_shot.pt'}")
        return
    cfg = TrainConfig(
        r_min=args.r_min, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
        p_rmax=args.p_rmax, fit_normalization=False, val_cutoffs=[model.r_max, 4.0, 3.0],
        out_dir=str(out), checkpoint_every=args.checkpoint_every, seed=0,
        init_from=args.init_from, energy_weight=args.energy_weight,
        forces_weight=args.forces_weight,
    )  # fmt: skip
    meta = {
        "pretrained": args.pretrained,
        "train_systems": sorted(
            q.stem for q in DATA.glob("*.xyz") if q.stem not in args.hold_out
        ),
        "held_out_systems": sorted(args.hold_out),
        "cutoff_range": [args.r_min, model.r_max], "p_rmax": args.p_rmax,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "init_from": args.init_from, "energy_weight": args.energy_weight,
        "forces_weight": args.forces_weight,
        "train_frames": len(train), "val_frames": len(val), "test_frames": len(test),
        "split": "frame % 10 == 0 test, == 5 val (every "
        f"{args.val_stride}th), rest train (every {args.train_stride}th)",
    }  # fmt: skip
    if offsets is not None:
        meta["energy_offsets"] = offsets
        info.write_text(json.dumps(meta, indent=1))
    start = time.time()
    trainer = Trainer(model, train, val, cfg, resume_from=args.resume)
    trainer.fit()
    sessions = json.loads(info.read_text()).get("sessions", []) if info.is_file() else []
    sessions.append({"steps_to": trainer.global_step, "time_s": time.time() - start})
    saved = json.loads(info.read_text()) if info.is_file() else meta
    saved["sessions"] = sessions
    info.write_text(json.dumps(saved, indent=1))
    save_model(trainer.deploy_model(), out / "model.pt", meta=saved)
    print(json.dumps(saved))


if __name__ == "__main__":
    main()
