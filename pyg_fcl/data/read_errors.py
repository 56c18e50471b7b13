"""``ase.io.read`` with errors that name the file and the frame.

ASE reports a broken file with whatever its parser met: ``KeyError: 'Xx'`` for an unknown
symbol, a bare ``StopIteration`` for a frame index past the end, ``UnicodeDecodeError`` for
binary data, ``XYZError: Frame has 6 atoms, expected 12`` for a truncated file. :func:`ase_read`
turns every such failure into one :class:`ValueError` naming the file, the frame that could not
be read (found by reading the file frame by frame, only after a failure) and the reason.
"""

from __future__ import annotations

import os

from ase.io import iread
from ase.io import read as _read

__all__ = ["ase_read"]


def _frames_before_failure(path: str, format: str | None) -> tuple[int, Exception | None]:
    """Frames readable from the start of the file, and the error that stopped the reading."""
    count = 0
    try:
        for _ in iread(path, index=":", format=format):
            count += 1
    except Exception as err:  # noqa: BLE001 - any parser error is reported with its frame
        return count, err
    return count, None


def _reason(err: BaseException) -> str:
    if isinstance(err, KeyError):
        return f"unknown chemical symbol or key {err.args[0]!r}"
    if isinstance(err, UnicodeDecodeError):
        return f"binary data at byte {err.start} (not a text structure file?)"
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__


def ase_read(path: str, index=None, format: str | None = None):
    """``ase.io.read(path, index, format)``; any failure becomes a ``ValueError`` naming the file
    and the frame.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty file, an index past the last frame (with the frame count), or a
            frame that cannot be parsed (truncated or malformed file, unknown symbol, binary data).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"structure file not found: {path}")
    try:
        return _read(path, index=index, format=format)
    except Exception as err:  # noqa: BLE001 - ASE raises many types for a bad file
        raise _read_error(path, index, format, err) from None


def _scan_xyz(path: str) -> str | None:
    """The first frame-structure problem of an (ext)xyz file, naming frame and line, or None.

    ASE's extxyz reader indexes all frame headers before it reads a frame, so a broken header
    fails before any frame count is known; this scan finds it.
    """
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", errors="replace").splitlines()
    frame, i = 0, 0
    while i < len(lines):
        fields = lines[i].split()
        if not fields:
            i += 1
            continue
        if len(fields) != 1 or not fields[0].isdigit():
            return (
                f"frame {frame} (line {i + 1}): expected a frame header (the number of atoms), "
                f"got {lines[i][:60]!r}"
            )
        n = int(fields[0])
        if i + 2 + n > len(lines):
            return (
                f"frame {frame} (line {i + 1}): the header says {n} atoms but only "
                f"{max(len(lines) - i - 2, 0)} atom lines follow (a truncated file?)"
            )
        for k in range(i + 2, i + 2 + n):
            atom = lines[k].split()
            if len(atom) == 1 and atom[0].isdigit():
                return (
                    f"frame {frame} (line {i + 1}): the header says {n} atoms but line {k + 1} "
                    "looks like the next frame's header (a truncated frame?)"
                )
        i += n + 2
        frame += 1
    return None


def _read_error(path: str, index, format: str | None, err: Exception) -> ValueError:
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        return ValueError(f"{path!r}: empty file (no frames)")
    xyz = (format or "").endswith("xyz") or (format is None and path.endswith((".xyz", ".extxyz")))
    if xyz and not isinstance(err, UnicodeDecodeError):
        problem = _scan_xyz(path)
        if problem is not None:
            return ValueError(f"{path!r}, {problem}")
    count, first = _frames_before_failure(path, format)
    if first is None:
        if isinstance(err, (StopIteration, IndexError)):
            last = f"0..{count - 1}" if count else "none"
            return ValueError(
                f"{path!r}: frame index {index!r} is out of range; the file has {count} "
                f"frame(s) (valid indices {last}, or negative from the end)"
            )
        return ValueError(f"{path!r}, index {index!r}: cannot be read ({_reason(err)})")
    before = f"the {count} frame(s) before it read fine" if count else "no frame could be read"
    return ValueError(
        f"{path!r}, frame {count}: cannot be read ({_reason(first)}); {before} "
        "(a truncated, malformed or non-structure file?)"
    )
