"""The ``pyg-fcl`` command line: ``pyg-fcl {train,evaluate,optimize,md,graph} ...``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# subcommand name -> module (relative to this package)
_SUBCOMMANDS = {
    "graph": ".graph",
    "train": ".train",
    "evaluate": ".evaluate",
    "optimize": ".optimize",
    "md": ".md",
    "data": ".data",
}

_EPILOG = """examples:
  pyg-fcl graph structure.xyz --r-max 6 --cutoffs 3 4 5 6
  pyg-fcl train --train train.xyz --val val.xyz --r-min 3.5 --r-max 7 --out run/
  pyg-fcl evaluate --model run/best.pt --data test.xyz --cutoff 5.0 --json errors.json
  pyg-fcl optimize --model run/best.pt --data crystal.xyz --lambdas 1e-2 1e-3 --out front.json
  pyg-fcl md --model run/best.pt --structure crystal.xyz --cutoffs cutoffs.json --steps 100
  pyg-fcl data pack train.xyz train.h5           # on-disk dataset, read lazily by train

Run `pyg-fcl <command> --help` for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyg-fcl",
        description="Flexible Cutoff Learning for ML interatomic potentials.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    for module in _SUBCOMMANDS.values():
        try:
            mod = importlib.import_module(module, __name__)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith(__name__):
                continue  # subcommand not part of this installation
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"pyg-fcl {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
