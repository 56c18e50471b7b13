"""Training never loses work: the output directory, graceful stops, and start-up checks.

* :func:`prepare_out_dir` refuses to start a new run over an existing one (``last.pt``,
  ``best.pt`` or ``metrics.json`` present) unless the caller resumes it or explicitly overwrites
  it, and checks that the directory is writable *before* any data is read or any step is taken.
* :class:`GracefulStop` turns SIGINT (Ctrl-C) and SIGTERM (a scheduler's kill) into a request
  that the training loop honours after the current step: it saves ``last.pt`` (the run resumes
  bit-exactly from it) and raises :class:`TrainingInterrupted`. A second Ctrl-C stops at once.
* :func:`check_init_weights` checks that a checkpoint's weights fit a model (same parameter
  names and shapes) before training starts, naming what differs.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import torch

__all__ = [
    "RUN_FILES",
    "prepare_out_dir",
    "GracefulStop",
    "TrainingInterrupted",
    "check_init_weights",
    "check_writable",
    "check_val_cutoffs",
]

#: Files that mark a directory as holding a training run.
RUN_FILES = ("last.pt", "best.pt", "metrics.json", "metrics.csv")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving ``checkpoint`` (``None``: no out_dir)."""

    def __init__(self, signal_name: str, checkpoint: Path | None, global_step: int) -> None:
        self.signal_name = signal_name
        self.checkpoint = checkpoint
        self.global_step = global_step
        saved = f"saved {checkpoint}" if checkpoint else "nothing saved (no out_dir)"
        super().__init__(f"{signal_name} at global step {global_step}: {saved}")


def prepare_out_dir(out: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Create ``out`` and check it is writable; refuse to clobber an existing run.

    Args:
        out: the run directory.
        resume (bool): the run continues from a checkpoint (existing files are expected).
        overwrite (bool): start over; the old run's files (:data:`RUN_FILES`) are deleted.

    Returns:
        Path: the directory.

    Raises:
        ValueError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set, is a
            file, or cannot be written.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} is a file, not a directory")
    existing = [name for name in RUN_FILES if (path / name).exists()]
    if existing and not resume:
        if not overwrite:
            raise ValueError(
                f"--out {path} already holds a training run ({', '.join(existing)}); continue "
                f"it with --resume {path / 'last.pt'}, or start over with --overwrite"
            )
        for name in existing:
            (path / name).unlink()
    check_writable(path, "--out")
    return path


def check_writable(path: str | os.PathLike, what: str = "out_dir") -> None:
    """Create directory ``path`` if needed and write (then delete) a probe file in it.

    Raises:
        ValueError: naming ``what`` and ``path`` when it cannot be written.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".pyg-fcl-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{what} {path} is not writable ({err.strerror or err})") from None


def check_val_cutoffs(cutoffs, r_min: float, r_max: float, allow_below_r_min: bool) -> None:
    """ValueError unless every validation cutoff is in ``[r_min, r_max]`` (``(0, r_max]`` when
    the model allows extrapolation), before the first step rather than after the first epoch."""
    low = 0.0 if allow_below_r_min else r_min
    bad = [c for c in cutoffs if not (low <= c <= r_max and c > 0)]
    if bad:
        raise ValueError(
            f"val_cutoffs {bad} lie outside the model's range [{low:g}, {r_max:g}] "
            "(below r_min only with model.allow_below_r_min = True)"
        )


class GracefulStop:
    """Context manager: SIGINT/SIGTERM set :attr:`signal_name` instead of killing the process.

    The loop checks :attr:`requested` between steps. A second SIGINT raises
    ``KeyboardInterrupt`` at once. Outside the main thread (where handlers cannot be installed)
    it does nothing.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def check_init_weights(model: torch.nn.Module, state_dict: dict, source: str) -> None:
    """ValueError unless ``state_dict`` has exactly ``model``'s parameter names and shapes.

    Args:
        model: the model to initialise.
        state_dict (dict): the checkpoint's weights.
        source (str): the checkpoint, for messages (e.g. ``"--init-from x.pt"``).
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} weights missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {shapes[:2]}, checkpoint vs model)")
        raise ValueError(
            f"{source}: the weights do not fit this model ({'; '.join(parts)}); a checkpoint of "
            "another architecture or other --model-kwargs?"
        )
