"""Fig. 5 of the FCL paper: force error vs average pairs per atom on each MAD subset.

For every subset of a MAD file, per-element cutoffs are optimized for each lambda on one half of
the subset's frames (even positions) and evaluated with hard pruning on the other half (odd
positions); global cutoffs are scanned as the baseline. Writes a PNG with one panel per subset
and a table (also as JSON)::

    python examples/fig5_pareto.py --model mad_model.pt --data data/mad_sample/test.xyz \\
        --lambdas 1e-2 1e-3 1e-4 1e-5 1e-6 --out out/fig5

**Label-free** (``--teacher``): the cutoffs are optimized and scored against a teacher's
predictions (e.g. ``7net-0``: SevenNet-0 at its 5 Å, for a model distilled from it), computed once
and cached in ``OUT/teacher_labels.pt``; every setting is *also* scored against the file's DFT
labels, in a second row of panels. ``--baseline`` adds another model's global-cutoff scan (e.g.
the teacher itself truncated, zero-shot)::

    python examples/fig5_pareto.py --model sevennet0_distilled_mad.pt --teacher 7net-0 \\
        --baseline 7net-0 --cost pairs --out out/fig5_distilled

The cost is the paper's mean r_c^3 proxy by default (``--cost pairs`` for the smooth count).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from ase.data import chemical_symbols

from pyg_fcl import evaluate, load_model, read_structures
from pyg_fcl.cost import DifferentiableCostModel
from pyg_fcl.optim import CutoffOptimizer, ParetoFront


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="pyg-fcl checkpoint trained on MAD")
    parser.add_argument("--data", default="data/mad_sample/test.xyz", help="MAD-layout extxyz")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    parser.add_argument("--cost", choices=("rc3", "pairs"), default="rc3")
    parser.add_argument("--subsets", nargs="*", help="subsets to run (default: all in the file)")
    parser.add_argument("--max-frames", type=int, default=40, help="per subset and half")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument(
        "--teacher", help="label-free: optimize and score against this model (7net-0 | CKPT.pt)"
    )
    parser.add_argument("--baseline", help="also scan this model's global cutoffs (7net-0 | CKPT)")
    parser.add_argument("--scan", type=float, nargs="+", help="global cutoffs (default: 6 steps)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="optimize again even where OUT/front_SUBSET.json exists (default: read it back, so "
        "subsets can be run one command at a time, with their own --epochs / --max-frames)",
    )
    parser.add_argument("--out", default="out/fig5")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    model = load_model(args.model)
    dft = read_structures(args.data)
    if args.teacher:  # drop elements the model (distilled from the teacher) does not know
        dft = [d for d in dft if set(d.z.tolist()) <= set(model.elements)]
    labelled = teacher_labelled(dft, args.teacher, out) if args.teacher else dft
    baseline = None
    if args.baseline:
        from pyg_fcl.train import load_teacher

        baseline = load_teacher(args.baseline)
        baseline.r_min = min(baseline.r_min, model.r_min)  # scanned below its own cutoff
    by_subset = defaultdict(list)
    for d, ref in zip(dft, labelled):
        by_subset[d.subset or "unlabelled"].append((d, ref))
    names = args.subsets or sorted(by_subset)
    scan = args.scan or [model.r_min + k * (model.r_max - model.r_min) / 5 for k in range(6)]
    results, fronts = {}, {}
    for name in names:
        pairs = by_subset.get(name)
        if not pairs or len(pairs) < 2:
            print(f"{name}: fewer than 2 frames, skipped")
            continue
        calibrate_on = [ref for _, ref in pairs[0::2]][: args.max_frames]
        evaluate_on = [ref for _, ref in pairs[1::2]][: args.max_frames]
        evaluate_dft = [d for d, _ in pairs[1::2]][: args.max_frames]
        saved = out / f"front_{name}.json"
        if saved.is_file() and not args.recompute:  # a long study can be run subset by subset
            front = ParetoFront.load(saved)
            print(f"== {name}: front read back from {saved} ({front.settings})")
            # score the settings on the frames the front was evaluated on (its own --max-frames)
            n = int(front.settings.get("evaluation_frames", len(evaluate_on)))
            evaluate_on, evaluate_dft = evaluate_on[:n], evaluate_dft[:n]
        else:
            print(
                f"== {name}: optimize on {len(calibrate_on)} frames, evaluate on {len(evaluate_on)}"
            )
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
            front.settings.update(
                label=f"optimized ({args.cost})", subset=name, epochs=args.epochs, lr=args.lr,
                lambdas=list(args.lambdas), cost=args.cost,
                calibration_frames=len(calibrate_on), evaluation_frames=len(evaluate_on),
            )  # fmt: skip
            front.save(saved)
        print(front.table())
        fronts[name] = front
        row = {
            "r_max": front.rmax,
            "global_scan": front.global_scan,
            "points": [
                {
                    "lambda": p.lam,
                    "pairs_per_atom": p.pairs_per_atom,
                    "force_rmse": p.force_rmse,
                    "cutoffs": {chemical_symbols[z]: r for z, r in (p.spec.elements or {}).items()},
                }
                for p in front.points
            ],
        }
        if args.teacher:  # the same settings against the DFT labels
            row["r_max"]["forces_rmse_vs_dft"] = force_rmse(model, evaluate_dft, None)
            for s in row["global_scan"]:
                s["forces_rmse_vs_dft"] = force_rmse(model, evaluate_dft, s["cutoff"])
            for p, point in zip(row["points"], front.points):
                p["force_rmse_vs_dft"] = force_rmse(model, evaluate_dft, point.spec)
        if baseline is not None:
            dft_frames = evaluate_dft if args.teacher else None
            row["baseline"] = [baseline_point(baseline, evaluate_on, dft_frames, c) for c in scan]
        results[name] = row
        (out / "fig5.json").write_text(json.dumps(results, indent=2))
    results["settings"] = {
        "model": args.model, "teacher": args.teacher, "baseline": args.baseline,
        "data": args.data, "lambdas_requested": args.lambdas, "cost": args.cost,
        "epochs_requested": args.epochs,
        "lr": args.lr, "max_frames": args.max_frames, "scan": scan,
        "per_subset": {n: fronts[n].settings for n in fronts},
    }  # fmt: skip
    (out / "fig5.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "fig5_pareto.png", teacher=args.teacher, baseline=args.baseline)
    print(f"wrote {out / 'fig5_pareto.png'} and {out / 'fig5.json'}")
    return 0


def teacher_labelled(structures: list, teacher_spec: str, out: Path) -> list:
    """The structures with the teacher's energies and forces as labels (cached in ``out``)."""
    from pyg_fcl.train import cached_teacher_predictions, load_teacher, with_teacher_labels

    teacher = load_teacher(teacher_spec)
    labels = cached_teacher_predictions(
        teacher, structures, out / "teacher_labels.pt", compute_stress=False
    )
    return with_teacher_labels(structures, labels)


def baseline_point(model, labelled: list, dft: list | None, cutoff: float) -> dict:
    """One global cutoff of the baseline: pairs and force error against the labels the fronts
    use (one evaluation), and against ``dft`` when given (the fronts use a teacher's labels)."""
    overall = evaluate(model, labelled, cutoff, batch_size=4)["overall"]
    point = {
        "cutoff": cutoff,
        "pairs_per_atom": overall["pairs_per_atom"],
        "forces_rmse": overall["forces_rmse"],
    }
    if dft is not None:
        point["forces_rmse_vs_dft"] = force_rmse(model, dft, cutoff)
    return point


def force_rmse(model, structures: list, cutoffs) -> float:
    return evaluate(model, structures, cutoffs, batch_size=4)["overall"]["forces_rmse"]


def plot(results: dict, path: Path, teacher: str | None = None, baseline: str | None = None):
    """One column per subset; rows: error against the labels (the teacher's, label-free), and
    with a teacher also against DFT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if n != "settings"]
    keys = [("forces_rmse", "force_rmse")]
    rows = ["force deviation from the teacher (eV/Å)" if teacher else "force RMSE (eV/Å)"]
    if teacher:
        keys.append(("forces_rmse_vs_dft", "force_rmse_vs_dft"))
        rows.append("force RMSE vs DFT (eV/Å)")
    n = max(1, len(names))
    fig, axes = plt.subplots(len(rows), n, figsize=(4.0 * n, 3.3 * len(rows)), squeeze=False)
    for col, name in enumerate(names):
        row = results[name]
        for r, (scan_key, point_key) in enumerate(keys):
            ax = axes[r][col]
            scan = sorted(row["global_scan"], key=lambda s: s["pairs_per_atom"])
            ax.plot(
                [s["pairs_per_atom"] for s in scan], [s[scan_key] for s in scan], "s--",
                color="gray", label="this model, global cutoffs",
            )  # fmt: skip
            if row.get("baseline"):
                base = sorted(row["baseline"], key=lambda s: s["pairs_per_atom"])
                ax.plot(
                    [s["pairs_per_atom"] for s in base], [s[scan_key] for s in base], "^:",
                    color="tab:red", label=f"baseline {baseline}, global cutoffs",
                )  # fmt: skip
            pts = sorted(row["points"], key=lambda p: p["pairs_per_atom"])
            ax.plot(
                [p["pairs_per_atom"] for p in pts], [p[point_key] for p in pts], "o-",
                color="tab:blue", label="optimized per element",
            )  # fmt: skip
            for p in pts:
                ax.annotate(f"{p['lambda']:.0e}", (p["pairs_per_atom"], p[point_key]), fontsize=6)
            ax.set_title(name if r == 0 else "", fontsize=10)
            ax.set_xlabel("pairs per atom")
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(rows[r], fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
