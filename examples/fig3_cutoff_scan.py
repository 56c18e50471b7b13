"""The FCL paper's Fig. 3: test error against the global inference cutoff, one FCL model against
static-cutoff (SCL) models trained at each cutoff, over several seeds.

For every seed this runs ``examples/train_mad.py`` (one FCL model plus one SCL model per
``--scl-cutoffs`` value, same budget), then writes a table (markdown and JSON) and a PNG of force
and energy RMSE against the cutoff (mean and spread over seeds). Arguments it does not know are
passed to ``train_mad.py`` (data, model size, budget).

    # MAD sample, tiny models, CPU (the settings of docs/training.md)
    python examples/fig3_cutoff_scan.py --seeds 0 1 2 --scl-cutoffs 3.5 4 4.5 5 \\
        --out runs/fig3 -- --data-dir data/mad_sample --size tiny --max-structures 150 \\
        --epochs 4 --r-min 3.5 --r-max 5 --no-progress
    # re-plot existing runs
    python examples/fig3_cutoff_scan.py --plot-only --out runs/fig3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _train_mad():
    spec = importlib.util.spec_from_file_location("train_mad", HERE / "train_mad.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collect(out: Path) -> dict:
    """``{model: {cutoff: {metric: [values over seeds]}}}`` from ``out/seed_*/results.json``."""
    table: dict = {}
    for path in sorted(out.glob("seed_*/results.json")):
        results = json.loads(path.read_text())["results"]
        for name, by_cutoff in results.items():
            if "pretrain" in name:
                continue
            kind = "FCL" if name == "FCL" else "SCL"
            for cutoff, res in by_cutoff.items():
                cell = table.setdefault(kind, {}).setdefault(float(cutoff), {})
                for metric in ("forces_rmse", "energy_rmse", "pairs_per_atom"):
                    cell.setdefault(metric, []).append(res["overall"][metric])
    if not table:
        raise SystemExit(f"no {out}/seed_*/results.json found")
    return table


def _mean_std(values):
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def report(table: dict, out: Path) -> str:
    cutoffs = sorted({c for kind in table.values() for c in kind})
    lines = [
        "| cutoff (Å) | pairs/atom | FCL force RMSE (meV/Å) | SCL force RMSE (meV/Å) "
        "| FCL energy RMSE (meV/atom) | SCL energy RMSE (meV/atom) | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cutoffs:
        cells, seeds, pairs = [], 0, "-"
        for metric in ("forces_rmse", "energy_rmse"):
            for kind in ("FCL", "SCL"):
                values = table.get(kind, {}).get(c, {}).get(metric)
                if values:
                    m, s = _mean_std(values)
                    cells.append(f"{1000 * m:.0f} ± {1000 * s:.0f}")
                    seeds = max(seeds, len(values))
                    pairs = f"{statistics.fmean(table[kind][c]['pairs_per_atom']):.1f}"
                else:
                    cells.append("–")
        lines.append(f"| {c:g} | {pairs} | " + " | ".join(cells) + f" | {seeds} |")
    text = "\n".join(lines) + "\n"
    (out / "fig3_table.md").write_text(text)
    (out / "fig3_table.json").write_text(
        json.dumps({k: {f"{c:g}": v for c, v in t.items()} for k, t in table.items()}, indent=1)
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, unit in zip(axes, ("forces_rmse", "energy_rmse"), ("meV/Å", "meV/atom")):
        for kind, style in (("FCL", "-o"), ("SCL", "s")):
            data = table.get(kind, {})
            xs = sorted(data)
            stats = [_mean_std(data[c][metric]) for c in xs]
            ax.errorbar(
                xs,
                [1000 * m for m, _ in stats],
                yerr=[1000 * s for _, s in stats],
                fmt=style,
                capsize=3,
                label=f"{kind}" + (" (one model)" if kind == "FCL" else " (one model per cutoff)"),
            )
        ax.set_xlabel("global inference cutoff (Å)")
        ax.set_ylabel(f"test {metric.split('_')[0]} RMSE ({unit})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fig3_cutoff_scan.png", dpi=150)
    return text


def main(argv=None) -> str:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--scl-cutoffs", type=float, nargs="+", default=[3.5, 4.0, 4.5, 5.0])
    p.add_argument("--out", default="runs/fig3")
    p.add_argument("--plot-only", action="store_true", help="only collect and plot existing runs")
    args, rest = p.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    out = Path(args.out)
    if not args.plot_only:
        train_mad = _train_mad()
        for seed in args.seeds:
            train_mad.main([
                *rest, "--seed", str(seed), "--out", str(out / f"seed_{seed}"),
                "--scl-cutoffs", *[str(c) for c in args.scl_cutoffs],
                "--eval-cutoffs", *[str(c) for c in args.scl_cutoffs],
            ])  # fmt: skip
    text = report(collect(out), out)
    print(text)
    return text


if __name__ == "__main__":
    main()
