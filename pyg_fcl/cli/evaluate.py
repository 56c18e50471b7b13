"""``pyg-fcl evaluate``: energy, force and stress errors per subset, and pairs per atom.

Runs a pyg-fcl checkpoint on labelled structures with hard pruning at a global cutoff
(``--cutoff``), at the cutoffs of a cutoffs file (``--cutoffs``: global, per element, or per atom
for a single structure) or at the model's ``r_max`` (neither). Energies are per atom (meV/atom
in the table, eV/atom in the JSON), forces eV/Å, stress eV/Å³.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._common import (
    add_extrapolation_flag,
    add_lambda_option,
    allow_extrapolation,
    cutoffs_from_file,
)
from ._data_args import add_data_args, read_kwargs
from ._types import positive_float, positive_int

_EXAMPLES = """examples:
  pyg-fcl evaluate --model runs/fcl/best.pt --data data/mad_sample/test.xyz
  pyg-fcl evaluate --model runs/fcl/best.pt --data test.xyz --cutoff 4.5 --json errors.json
  pyg-fcl evaluate --model best.pt --data test.xyz --cutoffs cutoffs.json
  pyg-fcl evaluate --model best.pt --data test.xyz --cutoffs front.json --lambda 1e-3
  pyg-fcl evaluate --model best.pt --data data/molcrys_x23 --group-by system --cutoff 5
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="errors per subset and pairs per atom at given cutoffs",
        description=__doc__,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="pyg-fcl checkpoint (e.g. runs/x/best.pt)")
    p.add_argument(
        "--data", nargs="+", required=True, help="extxyz / packed .h5 files or MAD directories"
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cutoff", type=positive_float, help="one global cutoff (Å)")
    group.add_argument(
        "--cutoffs",
        help="cutoffs JSON file (global, per element or per atom), or a Pareto front with --lambda",
    )
    add_lambda_option(p)
    add_extrapolation_flag(p)
    p.add_argument(
        "--group-by",
        choices=("subset", "system", "source"),
        default="subset",
        help="rows of the table: MAD subset (default), system name (info['system']), or file",
    )
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    add_data_args(p)
    p.set_defaults(run=run)
    return p


def _fmt(value, factor=1000.0) -> str:
    return "-" if value is None else f"{factor * value:.2f}"


def _evaluate_with_progress(model, structures, cutoffs, args, device) -> dict:
    """:func:`pyg_fcl.evaluate.evaluate` in chunks, with a progress bar over the structures."""
    from tqdm.auto import tqdm

    from ..evaluate import accumulate_errors, summarize_errors

    stress = any(bool(d.has_stress.reshape(-1)[0]) for d in structures if "has_stress" in d)
    chunk = 16 * args.batch_size
    sums: dict = {}
    with tqdm(
        total=len(structures), unit="struct", desc="evaluate", disable=args.no_progress
    ) as bar:
        for start in range(0, len(structures), chunk):
            part = structures[start : start + chunk]
            for name, value in accumulate_errors(
                model,
                part,
                cutoffs,
                batch_size=args.batch_size,
                device=device,
                compute_stress=stress,
                group_by=args.group_by,
            ).items():
                sums[name] = sums[name] + value if name in sums else value
            bar.update(len(part))
    return summarize_errors(sums)


def _check_finite(result: dict, model_path: str) -> None:
    """Nothing exits 0 with a NaN: a non-finite error means a broken model or structure."""
    import math

    for group, metrics in {**result["subsets"], "overall": result["overall"]}.items():
        for key, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"{model_path}: {key} of group {group!r} is {value} (the model gives "
                    "non-finite energies or forces on these structures)"
                )


def run(args) -> int:
    from .. import load_model
    from ..device import resolve_device
    from ..train import read_training_data

    if args.lam is not None and not args.cutoffs:
        raise ValueError("--lambda picks a point of a Pareto front: give the front as --cutoffs")
    device = resolve_device(args.device)
    model = load_model(args.model, map_location=device)
    allow_extrapolation(model, args, "evaluate")
    structures = read_training_data(args.data, args.subsets, **read_kwargs(args))
    if not structures:
        raise ValueError(f"--data {' '.join(args.data)}: no structures selected")
    if args.cutoffs:
        cutoffs = cutoffs_from_file(args.cutoffs, args.lam)
        label = f"file {args.cutoffs}" + (f", lambda {args.lam:g}" if args.lam else "")
    elif args.cutoff is not None:
        cutoffs, label = args.cutoff, f"{args.cutoff:g} Å"
    else:
        cutoffs, label = None, f"r_max = {model.r_max:g} Å"
    result = _evaluate_with_progress(model, structures, cutoffs, args, device)
    _check_finite(result, args.model)
    print(f"{args.model} on {len(structures)} structures, cutoffs: {label}")
    header = f"{'group':<22}{'n':>6}{'E MAE':>9}{'E RMSE':>9}{'F MAE':>9}{'F RMSE':>9}{'pairs':>8}"
    print(header + "   (meV/atom, meV/Å, pairs per atom)")
    rows = {**result["subsets"], "overall": result["overall"]}
    for name, m in rows.items():
        print(
            f"{name:<22}{m['num_structures']:>6}{_fmt(m['energy_mae']):>9}"
            f"{_fmt(m['energy_rmse']):>9}{_fmt(m['forces_mae']):>9}{_fmt(m['forces_rmse']):>9}"
            f"{m['pairs_per_atom']:>8.1f}"
        )
    if args.json:
        payload = {
            "model": str(args.model),
            "data": [str(d) for d in args.data],
            "cutoffs": label,
            "r_max": model.r_max,
            "units": {"energy": "eV/atom", "forces": "eV/A", "stress": "eV/A^3"},
            **result,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0
