"""Accuracy side by side: FCL-MACE (pyg_fcl_models) against mace-torch, same settings and budget.

Both models are trained at one fixed cutoff on the same X23 molecular-crystal frames with:

* the same hyperparameters: channels, hidden irreps ``C x 0e + C x 1o``, spherical harmonics
  ``l_max``, correlation, interactions, Bessel functions, polynomial envelope ``p``, radial MLP,
  last-readout MLP, ``avg_num_neighbors`` (measured once on the training set), dtype;
* the same normalisation: per-element reference energies, scale and shift fitted once
  (``pyg_fcl.train.fit_energy_normalization``) and given to both (mace-torch: ``ScaleShiftMACE``
  with ``atomic_energies``, ``atomic_inter_scale``, ``atomic_inter_shift``);
* the same training: one loop (``benchmarks/_mace_train_worker.py``, a step-for-step copy of
  ``pyg_fcl.train.Trainer``) trains both, over the same list of batches (the Trainer's order for
  the seed), with AdamW, the cosine LR schedule, EMA, gradient clipping and the loss
  ``w_E MSE(E/N) + w_F MSE(F)``;
* the same test: the EMA weights on the same test frames at the same cutoff (FCL-MACE is also
  scored by ``pyg_fcl.evaluate`` as a cross-check).

Data split (as ``models/pyg_fcl_models/pretrained/train_molcrys_fcl.py``): per crystal file,
frame % 10 == 0 test, == 5 validation (unused here), the rest training (every ``--train-stride``-th
of it); ``13_naphthalene`` is held out of everything. mace-torch runs in its own environment
(``benchmarks/.venv-mace``, created on first use as in ``benchmarks/model_step.py``) as a
subprocess, after FCL-MACE, on the same machine and thread count.

Examples::

    python benchmarks/accuracy_vs_mace.py --steps 1500 --out benchmarks/results
    python benchmarks/accuracy_vs_mace.py --quick              # 20 steps, a smoke test
    python benchmarks/accuracy_vs_mace.py --steps 5 --skip-mace --train-stride 30 --test-stride 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch_geometric.data import Batch, Data

from pyg_fcl import evaluate, read_structures
from pyg_fcl.train import average_num_neighbors, fit_energy_normalization
from pyg_fcl.train.batches import CutoffAssigner, GraphCache, epoch_batches
from pyg_fcl_models import FCLMACE

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from _mace_train_worker import LoopSettings, Predict, Prediction, test_errors, train  # noqa: E402

DATA = ROOT.parent / "data" / "molcrys_x23"
WORKER = ROOT / "_mace_train_worker.py"


def split_x23(
    data_dir: Path, train_stride: int, test_stride: int, hold_out: Sequence[str]
) -> tuple[list[Data], list[Data]]:
    """Training and test frames (frame % 10 == 0 test, == 5 validation, the rest training)."""
    files = sorted(Path(data_dir).glob("*.xyz"))
    if not files:
        raise ValueError(f"--data {data_dir}: no .xyz files there")
    unknown = sorted(set(hold_out) - {p.stem for p in files})
    if unknown:
        raise ValueError(f"--hold-out {unknown}: no such crystal file in {data_dir}")
    train_set, test_set = [], []
    for path in files:
        if path.stem in hold_out:
            continue
        for k, data in enumerate(read_structures(path, dtype=torch.float64)):
            if k % 10 == 0:
                test_set.append(data)
            elif k % 10 != 5:
                train_set.append(data)
    return train_set[::train_stride], test_set[::test_stride]


def batch_plan(num_structures: int, batch_size: int, seed: int, steps: int) -> list[list[int]]:
    """The Trainer's batches (``epoch_batches`` of epochs 0, 1, ...) for ``steps`` steps."""
    plan: list[list[int]] = []
    epoch = 0
    while len(plan) < steps:
        plan += epoch_batches(num_structures, batch_size, seed, epoch)
        epoch += 1
    return plan[:steps]


def chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(k, min(k + size, n))) for k in range(0, n, size)]


def fcl_predictor(model: FCLMACE, structures: Sequence[Data], cutoff: float) -> Predict:
    """FCL-MACE on the structures at a global cutoff (as the Trainer batches them in SCL mode)."""
    cache = GraphCache(structures, model.r_max, model.edge_rule)
    assign = CutoffAssigner(cutoff, cutoff, cutoff)

    def predict(indices: Sequence[int], training: bool) -> Prediction:
        batch = Batch.from_data_list([assign(cache[i], 0, i) for i in indices])
        out = model(batch)
        num_atoms = torch.bincount(batch.batch, minlength=len(indices))
        return Prediction(out["energy"], out["forces"], num_atoms, batch.energy, batch.forces)

    return predict


def mace_structures(structures: Sequence[Data], cutoff: float, r_max: float) -> list[dict]:
    """Each structure with the pair list FCL-MACE uses at ``cutoff``, in mace-torch's convention.

    Ours: ``edge_index = (j, i)``, ``vec = pos[j] - pos[i] + S @ cell`` (centre ``i``).
    mace-torch: sender ``edge_index[0]``, receiver ``edge_index[1]``,
    ``vec = pos[receiver] - pos[sender] + shifts``, so ``shifts = -S @ cell`` gives the same
    pair geometry, messages flowing from ``j`` to ``i`` in both.
    """
    cache = GraphCache(structures, r_max)
    assign = CutoffAssigner(cutoff, cutoff, cutoff)
    out = []
    for k in range(len(structures)):
        d = cache.graph(assign(cache[k], 0, k))
        cell = d.cell.reshape(3, 3).double()
        shift = d.edge_shift.double()
        out.append(
            {
                "z": d.z.clone(),
                "pos": d.pos.double().clone(),
                "cell": cell.clone(),
                "edge_index": d.edge_index.clone(),
                "shifts": -(shift @ cell),
                "unit_shifts": -shift,
                "energy": float(d.energy.reshape(-1)[0]),
                "forces": d.forces.double().clone(),
            }
        )
    return out


def ensure_mace_python(venv: Path) -> Path:
    """The mace-torch environment's python (``benchmarks/model_step.py`` creates it)."""
    from model_step import ensure_mace_venv

    return ensure_mace_venv(venv)


def check_args(args: argparse.Namespace) -> None:
    names = ("steps", "batch_size", "train_stride", "test_stride", "channels", "threads")
    for name in names + ("eval_batch_size", "log_every", "interactions", "correlation"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not args.cutoff > 0:
        raise ValueError(f"--cutoff must be > 0 Å, got {args.cutoff}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}")
    if not 0 <= args.ema_decay < 1:
        raise ValueError(f"--ema-decay must be in [0, 1), got {args.ema_decay}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="accuracy_vs_mace.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=DATA, help="folder of X23 .xyz files")
    p.add_argument("--hold-out", nargs="*", default=["13_naphthalene"])
    p.add_argument("--train-stride", type=int, default=3, help="every n-th training frame")
    p.add_argument("--test-stride", type=int, default=1, help="every n-th test frame")
    p.add_argument("--cutoff", type=float, default=5.0, help="fixed cutoff of both models (Å)")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--l-max", type=int, default=2)
    p.add_argument("--correlation", type=int, default=3)
    p.add_argument("--interactions", type=int, default=2)
    p.add_argument("--num-bessel", type=int, default=8)
    p.add_argument("--envelope-p", type=int, default=5)
    p.add_argument("--radial-mlp", nargs="+", type=int, default=[32, 32])
    p.add_argument("--readout-hidden", type=int, default=16)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps (both models)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--min-lr-ratio", type=float, default=0.01)
    p.add_argument("--ema-decay", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=10.0)
    p.add_argument("--energy-weight", type=float, default=1.0)
    p.add_argument("--forces-weight", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads of both models")
    p.add_argument("--eval-batch-size", type=int, default=8)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="20 steps on 1/30 of the training set")
    p.add_argument("--skip-mace", action="store_true", help="train and test FCL-MACE only")
    p.add_argument("--venv", type=Path, default=ROOT / ".venv-mace", help="mace-torch venv")
    p.add_argument("--out", type=Path, help="write accuracy_vs_mace.{json,md} into this folder")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.train_stride, args.test_stride = 20, 30, 10
    check_args(args)
    return args


def run_ours(args, model_cfg: dict, norm, train_set, test_set, batches, loop) -> dict:
    torch.manual_seed(args.seed)
    model = FCLMACE(
        r_max=args.cutoff,
        elements=model_cfg["elements"],
        num_channels=args.channels,
        l_max=args.l_max,
        hidden_l_max=1,
        correlation=args.correlation,
        num_interactions=args.interactions,
        num_bessel=args.num_bessel,
        radial_mlp=args.radial_mlp,
        readout_hidden=args.readout_hidden,
        avg_num_neighbors=model_cfg["avg_num_neighbors"],
        envelope_p=args.envelope_p,
        dtype=args.dtype,
    )
    norm.apply(model)
    result = {"num_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    print(f"FCL-MACE: {result['num_parameters']} parameters", flush=True)
    result["train"] = train(model, fcl_predictor(model, train_set, args.cutoff), batches, loop)
    start = time.perf_counter()
    test_batches = chunks(len(test_set), args.eval_batch_size)
    result["test"] = test_errors(fcl_predictor(model, test_set, args.cutoff), test_batches)
    result["test"]["wall_s"] = time.perf_counter() - start
    check = evaluate(model, test_set, args.cutoff, batch_size=args.eval_batch_size, device="cpu")
    overall = check["overall"]
    result["pyg_fcl_evaluate"] = {
        k: overall[k] for k in ("forces_rmse", "forces_mae", "energy_rmse", "pairs_per_atom")
    }
    return result


def run_mace(args, model_cfg: dict, train_set, test_set, batches, loop) -> dict:
    python = ensure_mace_python(args.venv)
    blob = {
        "model": model_cfg,
        "loop": vars(loop),
        "train": mace_structures(train_set, args.cutoff, args.cutoff),
        "test": mace_structures(test_set, args.cutoff, args.cutoff),
        "batches": batches,
        "test_batches": chunks(len(test_set), args.eval_batch_size),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = Path(tmp) / "input.pt", Path(tmp) / "result.json"
        torch.save(blob, path_in)
        env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
        print(f"mace-torch ({python}):", flush=True)
        subprocess.run([str(python), str(WORKER), str(path_in), str(path_out)], env=env, check=True)
        return json.loads(path_out.read_text())


def ratios(ours: dict, mace: dict) -> dict:
    """ours / mace-torch of the test errors and the training wall time."""
    keys = ("forces_rmse", "forces_mae", "energy_rmse_per_atom", "energy_mae_per_atom")
    out = {k: ours["test"][k] / mace["test"][k] for k in keys}
    out["train_wall_s"] = ours["train"]["wall_s"] / mace["train"]["wall_s"]
    return out


def markdown(result: dict) -> str:
    """The side-by-side table."""
    s, m = result["settings"], result["machine"]
    lines = [
        f"Fixed cutoff {s['cutoff']} Å, {s['channels']}x0e+{s['channels']}x1o, l_max {s['l_max']}, "
        f"correlation {s['correlation']}, {s['interactions']} interactions, {s['steps']} steps of "
        f"batch {s['batch_size']} (seed {s['seed']}), {s['dtype']}, {s['threads']} thread(s); "
        f"train {result['data']['train_frames']} frames, test {result['data']['test_frames']} "
        "frames.",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, torch {m['torch']}; load average "
        f"{m['load_average_start'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} at the end "
        "(shared machine: wall times carry noise).",
        "",
        "| model | parameters | force RMSE (eV/Å) | force MAE (eV/Å) | energy RMSE (meV/atom) "
        "| energy MAE (meV/atom) | train wall (s) | s/step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"ours": "FCL-MACE (pyg_fcl_models)", "mace": "mace-torch"}
    for key in ("ours", "mace"):
        if key not in result:
            continue
        r = result[key]
        t = r["test"]
        lines.append(
            f"| {names[key]} | {r['num_parameters']:,} | {t['forces_rmse']:.4f} | "
            f"{t['forces_mae']:.4f} | {1e3 * t['energy_rmse_per_atom']:.2f} | "
            f"{1e3 * t['energy_mae_per_atom']:.2f} | {r['train']['wall_s']:.0f} | "
            f"{r['train']['wall_s'] / r['train']['steps']:.3f} |"
        )
    if "ratio" in result:
        q = result["ratio"]
        lines.append(
            f"| ours / mace-torch | | {q['forces_rmse']:.3f} | {q['forces_mae']:.3f} | "
            f"{q['energy_rmse_per_atom']:.3f} | {q['energy_mae_per_atom']:.3f} | "
            f"{q['train_wall_s']:.2f} | |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    train_set, test_set = split_x23(args.data, args.train_stride, args.test_stride, args.hold_out)
    if not train_set or not test_set:
        raise ValueError(
            f"--data {args.data}: {len(train_set)} training and {len(test_set)} test frames "
            "after the split and strides (need both)"
        )
    elements = sorted({int(z) for d in train_set + test_set for z in d.z.tolist()})
    norm = fit_energy_normalization(train_set, elements)
    avg_nn = average_num_neighbors(train_set, args.cutoff)
    batches = batch_plan(len(train_set), args.batch_size, args.seed, args.steps)
    loop = LoopSettings(
        lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        min_lr_ratio=args.min_lr_ratio, schedule_steps=args.steps, ema_decay=args.ema_decay,
        grad_clip=args.grad_clip, energy_weight=args.energy_weight,
        forces_weight=args.forces_weight, log_every=args.log_every,
    )  # fmt: skip
    model_cfg = {
        "cutoff": args.cutoff, "elements": elements, "l_max": args.l_max,
        "hidden_irreps": f"{args.channels}x0e+{args.channels}x1o",
        "correlation": args.correlation, "num_interactions": args.interactions,
        "num_bessel": args.num_bessel, "envelope_p": args.envelope_p,
        "radial_mlp": list(args.radial_mlp), "readout_hidden": args.readout_hidden,
        "avg_num_neighbors": avg_nn, "dtype": args.dtype, "threads": args.threads,
        "seed": args.seed, "atomic_energies": [norm.atomic_energies[z] for z in elements],
        "scale": norm.scale, "shift": norm.shift,
    }  # fmt: skip
    force_rms = torch.cat([d.forces.reshape(-1) for d in test_set]).square().mean().sqrt()
    print(
        f"train {len(train_set)} frames, test {len(test_set)} frames, avg_num_neighbors "
        f"{avg_nn:.2f} at {args.cutoff} Å, scale {norm.scale:.4f}, shift {norm.shift:.4f}",
        flush=True,
    )
    result = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": model_cfg,
        "loop": vars(loop),
        "data": {
            "train_frames": len(train_set),
            "test_frames": len(test_set),
            "test_force_rms": float(force_rms),
            "split": "frame % 10 == 0 test, == 5 validation (unused), rest training; "
            f"training stride {args.train_stride}, test stride {args.test_stride}",
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_start": os.getloadavg(),
        },
    }
    result["ours"] = run_ours(args, model_cfg, norm, train_set, test_set, batches, loop)
    if not args.skip_mace:
        result["mace"] = run_mace(args, model_cfg, train_set, test_set, batches, loop)
        result["ratio"] = ratios(result["ours"], result["mace"])
    result["machine"]["load_average_end"] = os.getloadavg()
    table = markdown(result)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "accuracy_vs_mace.json").write_text(json.dumps(result, indent=1))
        (args.out / "accuracy_vs_mace.md").write_text(table)
    return result


if __name__ == "__main__":
    main()
