"""Options shared by the commands that run a trained model (``evaluate``, ``md``, ``optimize``):
extrapolation below the trained ``r_min``, and cutoffs taken from a Pareto front."""

from __future__ import annotations

import argparse
import math
import sys
import warnings

__all__ = [
    "add_extrapolation_flag",
    "allow_extrapolation",
    "add_lambda_option",
    "cutoffs_from_file",
]


def add_extrapolation_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-extrapolation`` (alias ``--allow-below-r-min``): accept cutoffs below the
    model's trained ``r_min``."""
    parser.add_argument(
        "--allow-extrapolation",
        "--allow-below-r-min",
        dest="allow_extrapolation",
        action="store_true",
        help="accept cutoffs below the model's trained r_min (untested territory: a warning is "
        "printed; without this flag such cutoffs are an error)",
    )


def allow_extrapolation(model, args: argparse.Namespace, command: str) -> None:
    """Apply ``--allow-extrapolation`` to ``model``, with one warning line on stderr."""
    if not getattr(args, "allow_extrapolation", False):
        return
    model.allow_below_r_min = True
    from ..graph import BelowTrainedRangeWarning

    warnings.simplefilter("ignore", BelowTrainedRangeWarning)  # said once, here
    print(
        f"pyg-fcl {command}: warning: --allow-extrapolation: cutoffs below the trained "
        f"r_min = {model.r_min:g} Å are accepted; the model was never trained there",
        file=sys.stderr,
    )


def add_lambda_option(parser: argparse.ArgumentParser) -> None:
    """``--lambda``: which point of a Pareto front given as ``--cutoffs`` to use."""
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        help="with --cutoffs FRONT.json (written by `pyg-fcl optimize --out`): use the cutoffs "
        "optimized at this lambda",
    )


def cutoffs_from_file(path: str, lam: float | None):
    """The cutoffs of a cutoffs file, or of one point of a Pareto front file.

    Args:
        path (str): a cutoffs file (``pyg-fcl optimize --cutoffs-out``) or a Pareto front
            (``pyg-fcl optimize --out``).
        lam (float, optional): the front's point to use (required when the front has several).

    Returns:
        CutoffSpec: the cutoffs.

    Raises:
        ValueError: an unreadable file, ``--lambda`` given for a plain cutoffs file, or a
            ``lambda`` the front does not hold (the message lists the ones it does).
    """
    from .._atomic import read_json
    from ..graph import load_cutoffs
    from ..optim.pareto import PARETO_FORMAT, ParetoFront

    obj = read_json(path, "cutoffs file")
    if not (isinstance(obj, dict) and obj.get("format") == PARETO_FORMAT):
        if lam is not None:
            raise ValueError(f"--lambda needs a Pareto front as --cutoffs; {path!r} is not one")
        return load_cutoffs(path)
    front = ParetoFront.load(path)
    lams = [p.lam for p in front.points]
    if not lams:
        raise ValueError(f"Pareto front {path!r} holds no points")
    if lam is None:
        if len(lams) > 1:
            raise ValueError(
                f"{path!r} is a Pareto front with {len(lams)} points; choose one with --lambda "
                f"(one of {', '.join(f'{v:g}' for v in lams)})"
            )
        return front.points[0].spec
    for point in front.points:
        if math.isclose(point.lam, lam, rel_tol=1e-6):
            return point.spec
    raise ValueError(
        f"Pareto front {path!r} has no point at lambda={lam:g}; it has "
        f"{', '.join(f'{v:g}' for v in lams)}"
    )
