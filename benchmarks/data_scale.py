"""Peak memory and training throughput as the dataset grows: in memory vs packed on disk.

The dataset is ``--base`` shipped MAD frames (``data/mad_sample/train.xyz``) and, for scale
``S``, ``S - 1`` rattled copies of each (positions + N(0, ``--rattle``²) Å, labels copied: the
numbers only need to have the right sizes). For every scale, each mode runs in a fresh process:

* ``memory``: ``read_structures`` of the extxyz file (a list of ``Data``) and the Trainer's
  default ``cache_graphs=True``, in the steady state of a run past its first epoch (every
  structure's ``r_max`` graph cached, which is what the first epoch builds);
* ``disk``: ``PackedDataset`` of the file packed with ``pyg-fcl data pack --graph-r-max``
  (structures and their ``r_max`` graphs read from disk at every step, nothing kept);
* ``disk-search`` (``--search``): packed without graphs, the neighbour search run at every step.

Each process trains the reference FCL-MACE (small: ``--channels``, l_max 1, 1 interaction) with
FCL cutoffs in [3, 5] Å, batch 4, on one thread: ``--warmup`` steps, then ``--steps`` timed
steps; reported are the peak resident memory of the process (``ru_maxrss``, everything included:
Python, torch, the dataset) and the timed steps per second. Setup time (reading/opening, the
normalisation pass, and for ``memory`` the graph cache) is reported apart. Modes alternate within
each repeat so that both see the same machine load; the median over ``--repeats`` is reported.

Usage::

    python benchmarks/data_scale.py                               # 1x, 10x, 100x
    python benchmarks/data_scale.py --scales 1 10 --repeats 1 --json out.json --md out.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent / "data" / "mad_sample" / "train.xyz"


def make_dataset(work: Path, base: int, scale: int, rattle: float, seed: int) -> Path:
    """Write ``base * scale`` frames (the base frames and rattled copies) as extxyz."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import iread, write

    path = work / f"scale_{scale}x.xyz"
    if path.exists():
        return path
    frames = [atoms for _, atoms in zip(range(base), iread(DATA, index=":"))]
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.xyz")
    with open(tmp, "w") as handle:
        for copy in range(scale):
            for frame in frames:
                atoms = frame.copy()  # positions, cell, info; not the labels
                atoms.calc = SinglePointCalculator(atoms, **frame.calc.results)
                if copy:
                    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
                write(handle, atoms, format="extxyz")
    os.replace(tmp, path)
    return path


def child(args) -> dict:
    """One measurement in this process (``--child MODE``)."""
    import torch

    torch.set_num_threads(1)
    from pyg_fcl.data import PackedDataset
    from pyg_fcl.train import TrainConfig, Trainer, dataset_elements, read_training_data
    from pyg_fcl_models import FCLMACE

    start = time.perf_counter()
    if args.child == "memory":
        structures = read_training_data(args.data)
    else:
        structures = PackedDataset(args.data)
    model = FCLMACE(
        r_max=args.r_max,
        r_min=3.0,
        elements=dataset_elements(structures),
        num_channels=args.channels,
        l_max=1,
        num_interactions=1,
        correlation=2,
        radial_mlp=(16,),
        avg_num_neighbors=30.0,
    )
    cfg = TrainConfig(
        r_min=3.0,
        epochs=1000,  # never the limit: the steps are
        batch_size=4,
        max_steps=args.warmup,
        progress=False,
        device="cpu",
        seed=args.seed,
        ema_decay=None,
    )
    trainer = Trainer(model, structures, None, cfg)
    if args.child == "memory":  # the steady state after the first epoch: every graph cached
        for index in range(len(trainer.train_set)):
            trainer.train_set[index]
    setup = time.perf_counter() - start
    trainer.fit()  # warm-up steps
    trainer.total_steps = args.warmup + args.steps
    t0 = time.perf_counter()
    trainer.fit()
    elapsed = time.perf_counter() - t0
    if trainer.global_step != args.warmup + args.steps:
        raise RuntimeError(f"ran {trainer.global_step} steps, expected {args.warmup + args.steps}")
    return {
        "mode": args.child,
        "frames": len(structures),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps_per_s": args.steps / elapsed,
        "setup_s": setup,
        "searches": trainer.train_set.num_searches,
    }


def run_child(mode: str, data: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(data)]
    for key in ("steps", "warmup", "channels", "seed", "r_max"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"{mode} on {data} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--base", type=int, default=60, help="shipped frames at 1x")
    parser.add_argument("--rattle", type=float, default=0.02, help="Å")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--r-max", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search", action="store_true", help="also disk without stored graphs")
    parser.add_argument("--work", default="/tmp/pyg_fcl_data_scale", help="dataset folder")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--md", help="write the Markdown table here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    from pyg_fcl.data import pack_structures

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    modes = ["memory", "disk"] + (["disk-search"] if args.search else [])
    rows = []
    for scale in args.scales:
        xyz = make_dataset(work, args.base, scale, args.rattle, args.seed)
        files = {"memory": xyz}
        t0 = time.perf_counter()
        files["disk"] = work / f"scale_{scale}x_graphs.h5"
        pack_structures([xyz], files["disk"], graph_r_max=args.r_max, progress=False)
        pack_s = time.perf_counter() - t0
        if args.search:
            files["disk-search"] = work / f"scale_{scale}x.h5"
            pack_structures([xyz], files["disk-search"], progress=False)
        runs = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode in modes:
                runs[mode].append(run_child(mode, files[mode], args))
        for mode in modes:
            rows.append(
                {
                    "scale": scale,
                    "mode": mode,
                    "frames": runs[mode][0]["frames"],
                    "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs[mode]),
                    "steps_per_s": statistics.median(r["steps_per_s"] for r in runs[mode]),
                    "setup_s": statistics.median(r["setup_s"] for r in runs[mode]),
                    "file_mb": files[mode].stat().st_size / 2**20,
                    "pack_s": pack_s if mode == "disk" else None,
                    "runs": runs[mode],
                }
            )
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), flush=True)
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "data")},
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    table = markdown(result)
    print(table)
    if args.md:
        Path(args.md).write_text(table)


def markdown(result: dict) -> str:
    rows, m = result["rows"], result["machine"]
    ref = {(r["mode"]): r for r in rows if r["scale"] == min(x["scale"] for x in rows)}
    mem = {r["scale"]: r for r in rows if r["mode"] == "memory"}
    lines = [
        "| scale | frames | mode | peak RSS (MB) | vs 1x | steps/s | vs in-memory | setup (s) "
        "| file (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rss = r["peak_rss_mb"] / ref[r["mode"]]["peak_rss_mb"] - 1
        speed = r["steps_per_s"] / mem[r["scale"]]["steps_per_s"] - 1
        lines.append(
            f"| {r['scale']}x | {r['frames']} | {r['mode']} | {r['peak_rss_mb']:.0f} | "
            f"{100 * rss:+.1f} % | {r['steps_per_s']:.2f} | {100 * speed:+.1f} % | "
            f"{r['setup_s']:.1f} | {r['file_mb']:.1f} |"
        )
    lines.append("")
    lines.append(
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs (1 thread per run), Python "
        f"{m['python']}; load average {m['load_average_start'][0]:.1f} at the start, "
        f"{m['load_average_end'][0]:.1f} at the end (shared machine: throughput carries noise)."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
