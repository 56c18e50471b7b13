"""argparse ``type=`` functions that reject a bad number where it is typed: ``--dt nan``,
``--r-max 0``, ``--log-every 0`` are usage errors naming the option, before anything runs."""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_float", "nonnegative_float", "positive_int", "nonnegative_int"]


class BadValue(argparse.ArgumentTypeError, ValueError):
    """An invalid option value: argparse shows it as a usage error, and code that converts
    values from a config file catches it as a ValueError."""


def _reject_bool(value) -> None:
    if isinstance(value, bool):
        raise BadValue(f"expected a number, got {value!r}")


def _float(text: str) -> float:
    _reject_bool(text)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadValue(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadValue(f"{text!r} is not a finite number")
    return value


def _int(text: str) -> int:
    _reject_bool(text)
    try:
        return int(text)
    except (TypeError, ValueError):
        raise BadValue(f"{text!r} is not an integer") from None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise BadValue(f"must be > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise BadValue(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise BadValue(f"must be >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise BadValue(f"must be >= 0, got {text}")
    return value
