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
    # re-plot existing runs, with a second FCL recipe trained by train_mad.py without SCL models
    python examples/fig3_cutoff_scan.py --plot-only --out runs/fig3 --label "FCL p_rmax 0.25" \\
        --add-fcl "FCL uniform=runs/fcl_uniform"
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


METRICS = ("forces_rmse", "energy_rmse", "pairs_per_atom")


def collect(out: Path, label: str = "FCL", table: dict | None = None) -> dict:
    """``{model: {cutoff: {metric: [values over seeds]}}}`` from ``out/seed_*/results.json``.

    The FCL model of those runs is stored under ``label``, every SCL model under ``"SCL"`` (each
    SCL model is evaluated at its own cutoff only). Pass ``table`` to add to an existing table.
    """
    table = {} if table is None else table
    paths = sorted(out.glob("seed_*/results.json"))
    if not paths:
        raise SystemExit(f"no {out}/seed_*/results.json found")
    for path in paths:
        results = json.loads(path.read_text())["results"]
        for name, by_cutoff in results.items():
            if "pretrain" in name:
                continue
            kind = label if name == "FCL" else "SCL"
            for cutoff, res in by_cutoff.items():
                cell = table.setdefault(kind, {}).setdefault(float(cutoff), {})
                for metric in METRICS:
                    cell.setdefault(metric, []).append(res["overall"][metric])
    return table


def _mean_std(values):
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _mean_std_cell(runs: dict, kind: str, metric: str) -> str:
    """``mean ± std`` over seeds in milli-units, or a dash where ``kind`` has no run."""
    if kind not in runs:
        return "–"
    mean, sd = _mean_std(runs[kind][metric])
    return f"{1000 * mean:.0f} ± {1000 * sd:.0f}"


def _ratio_cell(own: dict | None, scl: dict | None) -> str:
    """Mean force RMSE of an FCL variant relative to SCL at the same cutoff."""
    if own is None or scl is None:
        return "–"
    change = statistics.fmean(own["forces_rmse"]) / statistics.fmean(scl["forces_rmse"]) - 1
    return f"{100 * change:+.1f} %"


def _kinds(table: dict) -> list[str]:
    """FCL variants first (in insertion order), the SCL baselines last."""
    return [k for k in table if k != "SCL"] + (["SCL"] if "SCL" in table else [])


def report(table: dict, out: Path) -> str:
    """Markdown table (mean ± std over seeds, and each FCL variant's force RMSE relative to SCL at
    the same cutoff), ``fig3_table.{md,json}`` and ``fig3_cutoff_scan.png`` in ``out``."""
    kinds = _kinds(table)
    fcl = [k for k in kinds if k != "SCL"]
    cutoffs = sorted({c for kind in table.values() for c in kind})
    header = ["cutoff (Å)", "pairs/atom"]
    header += [f"{k} force RMSE (meV/Å)" for k in kinds]
    header += [f"{k} vs SCL (force)" for k in fcl if "SCL" in table]
    header += [f"{k} energy RMSE (meV/atom)" for k in kinds] + ["seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in cutoffs:
        runs = {k: table[k][c] for k in kinds if c in table[k]}  # the models scored at c
        cells = [_mean_std_cell(runs, k, "forces_rmse") for k in kinds]
        cells += [_ratio_cell(runs.get(k), runs.get("SCL")) for k in fcl if "SCL" in table]
        cells += [_mean_std_cell(runs, k, "energy_rmse") for k in kinds]
        last = runs[list(runs)[-1]]
        seeds = max(len(run["forces_rmse"]) for run in runs.values())
        pairs = statistics.fmean(last["pairs_per_atom"])
        lines.append(f"| {c:g} | {pairs:.1f} | " + " | ".join(cells) + f" | {seeds} |")
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fig3_table.md").write_text(text)
    (out / "fig3_table.json").write_text(
        json.dumps({k: {f"{c:g}": v for c, v in t.items()} for k, t in table.items()}, indent=1)
    )
    _plot(table, kinds, out / "fig3_cutoff_scan.png")
    return text


def _plot(table: dict, kinds: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, unit in zip(axes, ("forces_rmse", "energy_rmse"), ("meV/Å", "meV/atom")):
        for kind in kinds:
            data = table[kind]
            xs = sorted(data)
            stats = [_mean_std(data[c][metric]) for c in xs]
            scl = kind == "SCL"
            ax.errorbar(
                xs,
                [1000 * m for m, _ in stats],
                yerr=[1000 * sd for _, sd in stats],
                fmt="s" if scl else "-o",
                capsize=3,
                label=f"{kind} (one model per cutoff)" if scl else f"{kind} (one model)",
            )
        ax.set_xlabel("global inference cutoff (Å)")
        ax.set_ylabel(f"test {metric.split('_')[0]} RMSE ({unit})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _label_dir(text: str) -> tuple[str, Path]:
    label, sep, directory = text.partition("=")
    if not sep or not label or not directory:
        raise argparse.ArgumentTypeError(f"expected LABEL=DIR, got {text!r}")
    return label, Path(directory)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--scl-cutoffs", type=float, nargs="+", default=[3.5, 4.0, 4.5, 5.0])
    p.add_argument("--out", default="runs/fig3")
    p.add_argument("--plot-only", action="store_true", help="only collect and plot existing runs")
    p.add_argument("--label", default="FCL", help="name of this script's FCL model in the table")
    p.add_argument(
        "--add-fcl",
        type=_label_dir,
        nargs="*",
        default=[],
        metavar="LABEL=DIR",
        help="more FCL variants to show: train_mad.py outputs DIR/seed_*/results.json "
        "(e.g. another sampler recipe, same data and budget)",
    )
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
    table = collect(out, args.label)
    for label, directory in args.add_fcl:
        table = collect(directory, label, table)
    text = report(table, out)
    print(text)
    return text


if __name__ == "__main__":
    main()
