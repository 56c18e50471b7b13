"""The command line's error boundary: known exceptions become one-line messages, exit code != 0.

A user error (bad value, missing or unreadable file, a non-finite loss, a missing optional
package, Ctrl-C) is printed as ``pyg-fcl <command>: error: <message>``, with the file, frame or
option the message names, and the process exits with 1 (130 after Ctrl-C). Anything else is a
bug and keeps its traceback. ``PYG_FCL_TRACEBACK=1`` shows the traceback of every error.
"""

from __future__ import annotations

import os
import sys

__all__ = ["user_message", "EXIT_ERROR", "EXIT_INTERRUPTED"]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _is_non_finite_loss(err: BaseException) -> bool:
    trainer = sys.modules.get("pyg_fcl.train.trainer")  # only loaded if training ran
    return trainer is not None and isinstance(err, trainer.NonFiniteLossError)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(lines) if lines else "(no message)"


def user_message(err: BaseException) -> str | None:
    """The one-line message of a known user-facing error, ``None`` for anything else (a bug).

    Args:
        err: the exception a subcommand raised.

    Returns:
        str or None: the message to print after ``error:``.
    """
    if os.environ.get("PYG_FCL_TRACEBACK"):
        return None
    if isinstance(err, ValueError) or _is_non_finite_loss(err):
        return _one_line(str(err))
    if isinstance(err, OSError) and (err.filename or isinstance(err, FileNotFoundError)):
        reason = err.strerror or str(err)
        return _one_line(f"{reason}: {err.filename}" if err.filename else reason)
    if isinstance(err, ModuleNotFoundError):
        name = err.name or str(err)
        return _one_line(f"{err} (the optional package {name!r} is not installed)")
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return _one_line(
            f"out of memory ({err or type(err).__name__}); use smaller inputs or a "
            "smaller --batch-size"
        )
    return None
