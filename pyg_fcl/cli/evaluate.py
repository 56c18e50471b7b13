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

from .train import _add_data_args, read_kwargs

_EXAMPLES = """examples:
  pyg-fcl evaluate --model runs/fcl/best.pt --data data/mad_sample/test.xyz
  pyg-fcl evaluate --model runs/fcl/best.pt --data test.xyz --cutoff 4.5 --json errors.json
  pyg-fcl evaluate --model best.pt --data test.xyz --cutoffs front/lambda_1e-3.json
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
    group.add_argument("--cutoff", type=float, help="one global cutoff (Å)")
    group.add_argument("--cutoffs", help="cutoffs JSON file (global, per element or per atom)")
    p.add_argument("--group-by", default="subset", help="group field (default subset; 'system')")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    _add_data_args(p)
    p.set_defaults(run=run)
    return p


def _fmt(value, factor=1000.0) -> str:
    return "-" if value is None else f"{factor * value:.2f}"


def run(args) -> int:
    from .. import load_cutoffs, load_model
    from ..device import resolve_device
    from ..evaluate import evaluate
    from ..train import read_training_data

    device = resolve_device(args.device)
    model = load_model(args.model, map_location=device)
    structures = read_training_data(args.data, args.subsets, **read_kwargs(args))
    if args.cutoffs:
        cutoffs, label = load_cutoffs(args.cutoffs), f"file {args.cutoffs}"
    elif args.cutoff is not None:
        cutoffs, label = args.cutoff, f"{args.cutoff:g} Å"
    else:
        cutoffs, label = None, f"r_max = {model.r_max:g} Å"
    result = evaluate(
        model,
        structures,
        cutoffs,
        batch_size=args.batch_size,
        device=device,
        group_by=args.group_by,
    )
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
