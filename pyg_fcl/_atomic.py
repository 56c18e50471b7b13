"""File I/O shared by checkpoints, cutoffs files, Pareto fronts and metrics.

Atomic writes: nothing a user wrote is lost to an interrupted save.

Every file pyg-fcl writes (checkpoints, cutoffs files, Pareto fronts, training metrics) goes to a
temporary file in the destination folder, is flushed and fsynced, gets the usual file mode
(``0666 & ~umask``; ``mkstemp`` would leave ``0600``), and then replaces the destination with
``os.replace``, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_path", "read_json"]


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool) -> None:
    """Call ``write(handle)`` on a temporary file, then atomically move it to ``path``.

    Args:
        path: destination; its folder is created if missing. An existing file is replaced only
            once the new one is completely written; on any error it is left untouched and the
            temporary file is removed.
        write: writes the content to the open handle.
        binary: open the temporary file in binary mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8"}
        with os.fdopen(fd, **mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and moved to ``path``.

    For writers that open files by name (HDF5, databases) instead of writing to a handle. The
    caller must have closed the file when the ``with`` block ends. On any error (or interrupt)
    the temporary file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(text), binary=False)


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; a missing file or bad JSON raises ``ValueError`` naming it."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{what} {source!r} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {source!r} is not valid JSON: {err}") from None
