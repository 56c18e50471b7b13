"""Find the ``fix external pf/callback`` command in a LAMMPS input script and split around it.

LAMMPS needs the Python callback of a ``fix external`` registered after the fix is defined and
before the first ``run``; the driver therefore runs the script in two parts: everything up to and
including the fix command, then (callback registered) the rest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = ["SplitInput", "split_input", "FIX_EXAMPLE"]

FIX_EXAMPLE = "fix fcl all external pf/callback 1 1"
_FIX = re.compile(r"^\s*fix\s+(\S+)\s+(\S+)\s+external\s+pf/callback\s+(\S+)\s+(\S+)")


@dataclass(frozen=True)
class SplitInput:
    """A LAMMPS input cut after its ``fix ... external pf/callback`` command.

    Attributes:
        head (str): lines up to and including the fix command.
        tail (str): the remaining lines.
        fix_id (str): the fix ID.
        line (int): 1-based line number of the fix command.
    """

    head: str
    tail: str
    fix_id: str
    line: int


def split_input(text: str, source: str = "LAMMPS input") -> SplitInput:
    """Split ``text`` after its one ``fix ID group external pf/callback N M`` command.

    Continuation lines (``&`` at the end) are joined and ``#`` comments ignored when looking for
    the command.

    Raises:
        ValueError: no such fix, more than one, or call/apply intervals other than ``1 1`` (names
            ``source`` and the line).
    """
    lines = text.splitlines(keepends=True)
    found: list[tuple[int, int, str, tuple]] = []  # (first, last line, fix id, (Ncall, Napply))
    start, buffer = 0, ""
    for number, line in enumerate(lines):
        if not buffer:
            start = number
        code = line.split("#", 1)[0].rstrip()
        if code.endswith("&"):
            buffer += code[:-1] + " "
            continue
        logical, buffer = buffer + code, ""
        match = _FIX.match(logical)
        if match:
            found.append((start, number, match.group(1), match.group(3, 4)))
    if not found:
        raise ValueError(
            f"{source}: no 'fix ... external pf/callback' command; add e.g. '{FIX_EXAMPLE}' "
            "after the atoms are defined and before the first run (pyg-fcl supplies its forces, "
            "energy and virial)"
        )
    if len(found) > 1:
        where = ", ".join(str(first + 1) for first, *_ in found)
        raise ValueError(f"{source}: several 'fix external pf/callback' commands (lines {where})")
    first, last, fix_id, interval = found[0]
    if interval != ("1", "1"):
        raise ValueError(
            f"{source}, line {first + 1}: fix {fix_id} has Ncall Napply = {' '.join(interval)}; "
            f"the model's forces are needed on every step: use '{FIX_EXAMPLE}'"
        )
    return SplitInput("".join(lines[: last + 1]), "".join(lines[last + 1 :]), fix_id, first + 1)


def read_input(path: str | os.PathLike) -> SplitInput:
    """Read and split a LAMMPS input file (see :func:`split_input`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"LAMMPS input file not found: {os.fspath(path)}")
    with open(path, encoding="utf-8") as f:
        return split_input(f.read(), source=os.fspath(path))
