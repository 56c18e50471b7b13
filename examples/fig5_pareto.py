"""Fig. 5 of the FCL paper: force RMSE vs average pairs per atom on each MAD subset.

For every subset of a MAD file, per-element cutoffs are optimized for each lambda on one half of
the subset's frames (even positions) and evaluated with hard pruning on the other half (odd
positions); global cutoffs are scanned as the baseline. Writes a PNG with one panel per subset
and a table (also as JSON)::

    python examples/fig5_pareto.py --model mad_model.pt --data data/mad_sample/test.xyz \\
        --lambdas 1e-2 1e-3 1e-4 1e-5 1e-6 --out out/fig5

The cost is the paper's mean r_c^3 proxy by default (``--cost pairs`` for the smooth count).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pyg_fcl import load_model, read_structures
from pyg_fcl.cost import DifferentiableCostModel
from pyg_fcl.optim import CutoffOptimizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="pyg-fcl checkpoint trained on MAD")
    parser.add_argument("--data", default="data/mad_sample/test.xyz", help="MAD-layout extxyz")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    parser.add_argument("--cost", choices=("rc3", "pairs"), default="rc3")
    parser.add_argument("--subsets", nargs="*", help="subsets to run (default: all in the file)")
    parser.add_argument("--max-frames", type=int, default=40, help="per subset and half")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--out", default="out/fig5")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = load_model(args.model)
    frames = read_structures(args.data)
    by_subset = defaultdict(list)
    for d in frames:
        by_subset[d.subset or "unlabelled"].append(d)
    names = args.subsets or sorted(by_subset)
    scan = [model.r_min + k * (model.r_max - model.r_min) / 5 for k in range(6)]
    results, fronts = {}, {}
    for name in names:
        subset = by_subset.get(name)
        if not subset or len(subset) < 2:
            print(f"{name}: fewer than 2 frames, skipped")
            continue
        calibrate_on = subset[0::2][: args.max_frames]
        evaluate_on = subset[1::2][: args.max_frames]
        print(f"== {name}: optimize on {len(calibrate_on)} frames, evaluate on {len(evaluate_on)}")
        optimizer = CutoffOptimizer(
            model,
            calibrate_on,
            per="element",
            cost=DifferentiableCostModel(model.r_max, model.edge_rule, kind=args.cost),
            epochs=args.epochs,
            lr=args.lr,
            batch_size=4,
            progress=print,
        )
        front = optimizer.pareto(args.lambdas, evaluate_on, global_cutoffs=scan)
        front.settings.update(label=f"optimized ({args.cost})", subset=name)
        front.save(out / f"front_{name}.json")
        print(front.table())
        fronts[name] = front
        results[name] = {
            "r_max": front.rmax,
            "global_scan": front.global_scan,
            "points": [
                {"lambda": p.lam, "pairs_per_atom": p.pairs_per_atom, "force_rmse": p.force_rmse}
                for p in front.points
            ],
        }
    (out / "fig5.json").write_text(json.dumps(results, indent=2))
    plot(fronts, out / "fig5_pareto.png")
    print(f"wrote {out / 'fig5_pareto.png'} and {out / 'fig5.json'}")
    return 0


def plot(fronts: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(fronts))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    for ax, (name, front) in zip(axes[0], fronts.items()):
        scan = sorted(front.global_scan, key=lambda s: s["pairs_per_atom"])
        ax.plot(
            [s["pairs_per_atom"] for s in scan],
            [s["forces_rmse"] for s in scan],
            "s--",
            color="gray",
            label="global cutoffs",
        )
        pts = sorted(front.points, key=lambda p: p.pairs_per_atom)
        ax.plot(
            [p.pairs_per_atom for p in pts], [p.force_rmse for p in pts], "o-", label="optimized"
        )
        for p in pts:
            ax.annotate(f"{p.lam:.0e}", (p.pairs_per_atom, p.force_rmse), fontsize=6)
        ax.set_title(name)
        ax.set_xlabel("pairs per atom")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("force RMSE (eV/Å)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
