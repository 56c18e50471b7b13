"""The data options shared by ``pyg-fcl train``, ``evaluate`` and ``distill``."""

from __future__ import annotations

import argparse

__all__ = ["add_data_args", "read_kwargs"]


def add_data_args(p: argparse.ArgumentParser) -> None:
    """Label keys, MAD subsets and missing-forces handling."""
    g = p.add_argument_group("data")
    g.add_argument("--subsets", nargs="+", help="keep only these MAD subsets")
    g.add_argument("--energy-key", default="energy", help="energy label key (default energy)")
    g.add_argument("--forces-key", default="forces", help="forces label key (default forces)")
    g.add_argument("--stress-key", default="stress", help="stress label key (default stress)")
    g.add_argument(
        "--allow-missing-forces", action="store_true", help="accept frames without forces"
    )


def read_kwargs(args) -> dict:
    """The keyword arguments of :func:`pyg_fcl.read_structures` from those options."""
    return dict(
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        stress_key=args.stress_key,
        allow_missing_forces=args.allow_missing_forces,
    )
