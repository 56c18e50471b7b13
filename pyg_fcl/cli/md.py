"""``pyg-fcl md``: ASE molecular dynamics with an FCL model and per-atom cutoffs, timed per step."""

from __future__ import annotations

import argparse
import json
import math
import os

from ._common import (
    add_extrapolation_flag,
    add_lambda_option,
    allow_extrapolation,
    cutoffs_from_file,
)
from ._types import nonnegative_float, nonnegative_int, positive_float, positive_int

_EXAMPLES = """examples:
  # NVE at the model's r_max, 200 steps of 0.5 fs
  pyg-fcl md --model model.pt --structure crystal.xyz --steps 200
  # the cutoffs optimized at lambda = 1e-3 (a Pareto front from `pyg-fcl optimize --out`)
  pyg-fcl md --model model.pt --structure crystal.xyz --cutoffs front.json --lambda 1e-3
  # optimized per-element cutoffs (from `pyg-fcl optimize --cutoffs-out`), Langevin at 300 K
  pyg-fcl md --model model.pt --structure crystal.xyz --cutoffs cutoffs.json \\
      --ensemble langevin --temperature 300 --steps 500 --json md.json
  # unlabelled snapshots for `pyg-fcl distill`: Langevin at 400 K, every 20th step as extxyz
  pyg-fcl md --model teacher.pt --structure crystal.xyz --ensemble langevin \
      --temperature 400 --steps 2000 --trajectory snapshots.xyz --save-every 20
  # one global cutoff, a 2x2x2 supercell, float64 for energy conservation
  pyg-fcl md --model model.pt --structure crystal.xyz --cutoff 4.5 --supercell 2 2 2 --float64
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "md",
        help="run ASE molecular dynamics with an FCL model and report time per step",
        description=(
            "Molecular dynamics (ASE velocity Verlet or Langevin) with FCLCalculator: per-atom "
            "cutoffs, neighbour list searched at r_max + skin and reused until an atom moved "
            "more than skin/2. Reports seconds per step, energy drift and pairs per atom."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="pyg-fcl model checkpoint")
    parser.add_argument("--structure", required=True, help="structure file (any ASE format)")
    parser.add_argument("--index", default="0", help="frame of the structure file (default 0)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--cutoffs",
        help="cutoffs JSON file (global, per element or per atom; `optimize --cutoffs-out`), "
        "or a Pareto front (`optimize --out`) with --lambda",
    )
    group.add_argument("--cutoff", type=positive_float, help="one global cutoff (Å); default r_max")
    add_lambda_option(parser)
    add_extrapolation_flag(parser)
    parser.add_argument("--supercell", type=positive_int, nargs=3, metavar=("NA", "NB", "NC"))
    parser.add_argument("--steps", type=positive_int, default=100, help="MD steps (default 100)")
    parser.add_argument(
        "--dt", type=positive_float, default=0.5, help="time step in fs (default 0.5)"
    )
    parser.add_argument("--ensemble", choices=("nve", "langevin"), default="nve")
    parser.add_argument(
        "--temperature", type=nonnegative_float, default=300.0, help="K (default 300)"
    )
    parser.add_argument("--friction", type=nonnegative_float, default=0.01, help="Langevin, 1/fs")
    parser.add_argument(
        "--skin", type=nonnegative_float, default=0.5, help="Verlet skin in Å (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="velocity and noise seed")
    parser.add_argument(
        "--warmup", type=nonnegative_int, default=3, help="steps left out of the timing"
    )
    parser.add_argument("--float64", action="store_true", help="run the model in float64")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=positive_int, help="torch CPU threads")
    parser.add_argument(
        "--log-every", type=positive_int, default=10, help="steps between log lines"
    )
    parser.add_argument(
        "--trajectory",
        "--traj",
        dest="traj",
        help="save snapshots here: unlabelled extxyz (any name but *.traj; readable by "
        "`pyg-fcl distill --data`) or an ASE .traj file",
    )
    parser.add_argument(
        "--save-every",
        type=positive_int,
        help="steps between saved snapshots (default --log-every)",
    )
    parser.add_argument("--json", help="write the results as JSON here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..calculator import FCLCalculator
    from ..checkpoint import load_model
    from ..data.read_errors import ase_read
    from ..data.sanity import check_structure
    from ..md import run_md

    if args.threads:
        torch.set_num_threads(args.threads)
    if not os.path.isfile(args.structure):
        raise FileNotFoundError(f"structure file not found: {args.structure}")
    if args.lam is not None and not args.cutoffs:
        raise ValueError("--lambda picks a point of a Pareto front: give the front as --cutoffs")
    try:
        index = int(args.index)
    except ValueError:
        raise ValueError(f"--index must be one frame number, got {args.index!r}") from None
    atoms = ase_read(args.structure, index=index)
    if args.supercell:
        atoms = atoms.repeat(tuple(args.supercell))
    where = f"{args.structure!r}, frame {index}"
    check_structure(
        torch.as_tensor(atoms.positions), torch.as_tensor(atoms.cell[:]), atoms.pbc, where=where
    )
    if len(atoms) < 2:
        raise ValueError(
            f"{where}: MD needs at least 2 atoms, got {len(atoms)} (its temperature is undefined "
            "once the centre-of-mass motion is removed)"
        )
    cutoffs = cutoffs_from_file(args.cutoffs, args.lam) if args.cutoffs else args.cutoff
    model = load_model(args.model, map_location=args.device)
    if args.float64:
        model = model.double()
    allow_extrapolation(model, args, "md")
    calc = FCLCalculator(model, cutoffs=cutoffs, device=args.device, skin=args.skin)
    atoms.calc = calc
    cut = calc.cutoff_tensor(atoms)
    print(
        f"md: {len(atoms)} atoms, cutoffs {float(cut.min()):.2f}..{float(cut.max()):.2f} Å "
        f"(r_max {calc.r_max}), {args.ensemble}, {args.steps} steps of {args.dt} fs"
    )
    result = run_md(
        atoms,
        args.steps,
        timestep_fs=args.dt,
        ensemble=args.ensemble,
        temperature=args.temperature,
        friction=args.friction,
        seed=args.seed,
        warmup=args.warmup,
        log=print,
        log_every=args.log_every,
        trajectory=args.traj,
        save_every=args.save_every,
    )
    bad = next((k for k, e in enumerate(result["etot"]) if not math.isfinite(e)), None)
    if bad is not None:
        raise ValueError(
            f"md: the total energy became non-finite at step {bad} (E_tot = {result['etot'][bad]})"
            f"; a time step (--dt {args.dt} fs) too large for this structure, or atoms that came "
            "too close?"
        )
    pairs = calc.stats["last_num_edges"] / len(atoms)
    print(
        f"md: {result['seconds_per_step'] * 1e3:.2f} ms/step (median "
        f"{result['median_seconds_per_step'] * 1e3:.2f}), {pairs:.1f} pairs/atom, "
        f"{calc.stats['builds']} neighbour-list builds, energy drift "
        f"{result['energy_drift_per_atom'] * 1e3:.3f} meV/atom"
    )
    if args.json:
        result.update(
            model=args.model,
            structure=args.structure,
            cutoffs=args.cutoffs or args.cutoff or calc.r_max,
            **({"lambda": args.lam} if args.lam is not None else {}),
            pairs_per_atom=pairs,
            skin=args.skin,
        )
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0
