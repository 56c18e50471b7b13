"""``pyg-fcl optimize``: post-training cutoff optimization and its Pareto front."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import add_extrapolation_flag, allow_extrapolation
from ._types import nonnegative_float, positive_float, positive_int

_EXAMPLES = """examples:
  # per-element cutoffs (the paper's), against DFT labels, five lambdas
  pyg-fcl optimize --model model.pt --data crystal.xyz --lambdas 1e-2 1e-3 1e-4 1e-5 1e-6 \\
      --out front.json
  # label-free (against the model at r_max), per atom, evaluated on held-out frames,
  # with a scan of global cutoffs as baseline, and the cutoffs of lambda=1e-3 saved
  pyg-fcl optimize --model model.pt --data crystal.xyz --index :40 --eval-index 40: \\
      --per atom --reference model --lambdas 1e-3 --scan 3.5 4 4.5 5 5.5 6 \\
      --out front.json --cutoffs-out cutoffs.json --plot front.png
  # cost in calibrated seconds instead of pairs
  pyg-fcl optimize --model model.pt --data crystal.xyz --cost time --lambdas 1e-3 1e-4
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="optimize per-atom cutoffs after training (Pareto front of error vs cost)",
        description=(
            "Minimize error + lambda * cost over per-element, per-atom or global cutoffs of a "
            "trained FCL model (cutoffs stay inside its trained range [r_min, r_max]); each "
            "result is evaluated with hard pruning (pairs per atom, force RMSE, also at r_max)."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="pyg-fcl model checkpoint")
    parser.add_argument("--data", required=True, help="target structures (extxyz or ASE format)")
    parser.add_argument("--index", default=":", help="frames to optimize on (ASE syntax)")
    parser.add_argument("--eval-data", help="structures to evaluate on (default: --data)")
    parser.add_argument("--eval-index", help="frames to evaluate on (default: same as --index)")
    parser.add_argument(
        "--lambdas", type=nonnegative_float, nargs="+", required=True, help="cost weights"
    )
    parser.add_argument(
        "--per",
        choices=("element", "atom", "global"),
        default="element",
        help="one cutoff per element (default; transfers to supercells), per atom (frames of "
        "one system), or one global cutoff",
    )
    parser.add_argument(
        "--reference",
        choices=("labels", "model"),
        default="labels",
        help="error against DFT labels (default) or label-free against the model at r_max",
    )
    parser.add_argument(
        "--cost",
        choices=("pairs", "rc3", "time"),
        default="pairs",
        help="smooth pairs per atom (default), mean r_c^3 (the paper's), or calibrated time",
    )
    parser.add_argument("--tau", type=positive_float, default=0.1, help="smooth-count width in Å")
    parser.add_argument(
        "--lr", type=positive_float, default=0.2, help="Adam learning rate on theta"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=10, help="passes over the --data frames"
    )
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument(
        "--init", type=float, help="initial cutoff in Å (default r_min + 0.75 (r_max - r_min))"
    )
    parser.add_argument(
        "--scan", type=positive_float, nargs="*", default=(), help="global cutoffs to scan"
    )
    add_extrapolation_flag(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, help="torch CPU threads")
    parser.add_argument(
        "--out",
        help="write the Pareto front JSON here: every lambda's cutoffs; `pyg-fcl md/evaluate "
        "--cutoffs FRONT.json --lambda L` use one of them",
    )
    parser.add_argument(
        "--cutoffs-out",
        help="also write the cutoffs of the FIRST --lambdas value here, as a plain cutoffs file "
        "(for FCLCalculator(cutoffs=...) or --cutoffs of md/evaluate)",
    )
    parser.add_argument("--plot", help="save force RMSE vs pairs per atom (points labelled λ)")
    parser.set_defaults(run=run)


def _check_has_edges(structures, model, source: str) -> None:
    """Refuse before optimizing when no structure has a pair within r_max (nothing to prune)."""
    from ..neighbors import radius_graph

    for data in structures:
        periodic = bool(data.pbc.any())
        edge_index, _ = radius_graph(
            data.pos,
            model.r_max,
            cell=data.cell if periodic else None,
            pbc=data.pbc if periodic else None,
        )
        if edge_index.shape[1] > 0:
            return
    raise ValueError(
        f"{source}: no pair of atoms lies within r_max = {model.r_max:g} Å in any of the "
        f"{len(structures)} selected structure(s); there are no edges to optimize cutoffs for"
    )


def _check_finite(front, model_path: str) -> None:
    """Nothing exits 0 with a NaN: a non-finite error or pair count is an error."""
    import math

    rows = [("r_max", front.rmax)] + [(f"lambda {p.lam:g}", p.evaluation) for p in front.points]
    for name, metrics in rows:
        for key in ("forces_rmse", "pairs_per_atom"):
            value = metrics.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"{model_path}: {key} at {name} is {value} (the model gives non-finite "
                    "forces on these structures)"
                )


def run(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_model
    from ..cost import DifferentiableCostModel
    from ..data import read_structures, save_cutoffs
    from ..optim import CutoffOptimizer

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    allow_extrapolation(model, args, "optimize")
    allow_missing = args.reference == "model"
    structures = read_structures(
        args.data,
        index=args.index,
        allow_missing_energy=allow_missing,
        allow_missing_forces=allow_missing,
    )
    if not structures:
        raise ValueError(f"{args.data}: no frames selected by --index {args.index!r}")
    _check_has_edges(structures, model, args.data)
    eval_structures = None
    if args.eval_data or args.eval_index:
        eval_structures = read_structures(
            args.eval_data or args.data, index=args.eval_index or args.index
        )
    cost = DifferentiableCostModel(model.r_max, model.edge_rule, kind=args.cost, tau=args.tau)
    if args.cost == "time":
        sizes = sorted(structures, key=lambda d: d.num_nodes)
        chosen = [sizes[0], sizes[-1]] if len(sizes) > 1 else sizes
        settings = [model.r_min + f * (model.r_max - model.r_min) for f in (0.0, 0.5, 1.0)]
        fit = cost.calibrate(model, chosen, settings, progress=print)
        print(f"time model: {fit}")
    optimizer = CutoffOptimizer(
        model,
        structures,
        per=args.per,
        reference=args.reference,
        cost=cost,
        lr=args.lr,
        epochs=args.epochs,
        init=args.init,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=print,
    )
    front = optimizer.pareto(args.lambdas, eval_structures, global_cutoffs=args.scan)
    front.settings.update(model=os.fspath(args.model), data=os.fspath(args.data))
    print(front.table())
    _check_finite(front, args.model)
    for issue in front.non_monotonic():
        print(
            f"pyg-fcl optimize: warning: {issue}: the optimization did not converge there (try "
            "more --epochs, another --lr or --init)",
            file=sys.stderr,
        )
    if args.out:
        front.save(args.out)
        print(f"Pareto front written to {args.out}")
        lam = front.points[0].lam
        print(
            f"  use a point: pyg-fcl md --model {args.model} --structure {args.data} "
            f"--cutoffs {args.out} --lambda {lam:g}"
        )
    if args.cutoffs_out:
        save_cutoffs(front.points[0].spec, args.cutoffs_out)
        print(f"cutoffs of lambda={front.points[0].lam:g} written to {args.cutoffs_out}")
    if args.plot:
        front.plot(args.plot, title=os.path.basename(args.data))
        print(f"plot written to {args.plot}")
    return 0
