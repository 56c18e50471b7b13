"""Optimize per-element cutoffs of a trained FCL model for one system, then run MD with them.

The library calls behind ``pyg-fcl optimize`` and ``pyg-fcl md``, as a script to adapt::

    python examples/optimize_cutoffs.py --model model.pt \\
        --data data/molcrys_x23/13_naphthalene.xyz --lambdas 1e-2 1e-3 --out-dir out/naph

Writes ``front.json`` (the Pareto front), ``cutoffs_<lambda>.json`` per lambda and
``pareto.png`` into ``--out-dir``, then runs a short NVE trajectory with the cutoffs of the first
lambda and compares its step time with ``r_max``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ase.io import read

from pyg_fcl import FCLCalculator, load_model, read_structures, run_md, save_cutoffs
from pyg_fcl.cost import DifferentiableCostModel
from pyg_fcl.optim import CutoffOptimizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="pyg-fcl checkpoint")
    parser.add_argument("--data", required=True, help="labelled frames of the target system")
    parser.add_argument("--index", default="0::2", help="frames to optimize on (ASE syntax)")
    parser.add_argument("--eval-index", default="1::2", help="held-out frames to evaluate on")
    parser.add_argument("--per", choices=("element", "atom", "global"), default="element")
    parser.add_argument("--cost", choices=("pairs", "rc3"), default="pairs")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--md-steps", type=int, default=10)
    parser.add_argument("--out-dir", default="out/optimize_cutoffs")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    model = load_model(args.model)
    train = read_structures(args.data, index=args.index)
    held_out = read_structures(args.data, index=args.eval_index)
    # Per-atom cutoffs need frames of one system with the same atoms: keep the largest frames.
    size = max(d.num_nodes for d in train)
    train = [d for d in train if d.num_nodes == size]
    held_out = [d for d in held_out if d.num_nodes == size]
    print(f"{len(train)} frames to optimize on, {len(held_out)} held out ({size} atoms each)")

    optimizer = CutoffOptimizer(
        model,
        train,
        per=args.per,
        cost=DifferentiableCostModel(model.r_max, model.edge_rule, kind=args.cost),
        epochs=args.epochs,
        lr=0.2,
        batch_size=4,
        progress=print,
    )
    scan = [model.r_min + k * (model.r_max - model.r_min) / 4 for k in range(5)]
    front = optimizer.pareto(args.lambdas, held_out, global_cutoffs=scan)
    print(front.table())
    front.save(out / "front.json")
    front.plot(out / "pareto.png", title=Path(args.data).stem)
    for point in front.points:
        save_cutoffs(point.spec, out / f"cutoffs_{point.lam:.0e}.json")

    atoms = read(args.data, index=int(held_out[0].frame))
    timings = {}
    for name, cutoffs in (
        ("r_max", None),
        (f"lambda {front.points[0].lam:g}", front.points[0].spec),
    ):
        trial = atoms.copy()
        trial.calc = FCLCalculator(model, cutoffs=cutoffs, skin=0.5)
        result = run_md(trial, args.md_steps, timestep_fs=0.5, temperature=300)
        timings[name] = result["median_seconds_per_step"]
        print(f"MD {name}: {timings[name] * 1e3:.1f} ms/step")
    first, second = timings.values()
    print(f"measured MD speedup: {first / second:.2f}x; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
