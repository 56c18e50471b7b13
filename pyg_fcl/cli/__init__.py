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
    "lammps": ".lammps",
    "data": ".data",
    "distill": ".distill",
}

_EPILOG = """examples:
  pyg-fcl graph structure.xyz --r-max 6 --cutoffs 3 4 5 6
  pyg-fcl train --train train.xyz --val val.xyz --r-min 3.5 --r-max 7 --out run/
  pyg-fcl evaluate --model run/best.pt --data test.xyz --cutoff 5.0 --json errors.json
  pyg-fcl optimize --model run/best.pt --data crystal.xyz --lambdas 1e-2 1e-3 --out front.json
  pyg-fcl md --model run/best.pt --structure crystal.xyz --cutoffs cutoffs.json --steps 100
  pyg-fcl lammps --model run/best.pt --input in.lmp --elements C H O --cutoffs cutoffs.json
  pyg-fcl data pack train.xyz train.h5           # on-disk dataset, read lazily by train
  pyg-fcl distill --teacher 7net-0 --data snapshots.xyz --r-min 3 --val-fraction 0.1 --out d/

Run `pyg-fcl <command> --help` for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyg-fcl",
        description="Flexible Cutoff Learning for ML interatomic potentials.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"pyg-fcl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for module in _SUBCOMMANDS.values():
        try:
            mod = importlib.import_module(module, __name__)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith(__name__):
                continue  # subcommand not part of this installation
            raise
        mod.add_parser(sub)
    for subparser in sub.choices.values():
        _plain_text(subparser)
    return parser


def _plain_text(parser: argparse.ArgumentParser) -> None:
    """Help texts come from docstrings written for the docs: show ``x`` as `x` on a terminal."""
    for name in ("description", "epilog"):
        text = getattr(parser, name)
        if text:
            setattr(parser, name, text.replace("``", "`"))
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = action.help.replace("``", "`")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, user_message

    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\npyg-fcl {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # the error boundary: known errors become one line (see _errors)
        message = user_message(err)
        if message is None:
            raise
        print(f"pyg-fcl {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
