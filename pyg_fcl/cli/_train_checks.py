"""``pyg-fcl train``: argument checks before anything runs, and what ``--resume`` takes from the
checkpoint.

Everything that can be checked without the data is checked first (cutoff range, validation
cutoffs, JSON options, files), so a typo fails in a second instead of after the first epoch.
``--resume OUT/last.pt`` rebuilds the model from the checkpoint (no model options needed) and
takes every run setting from it that was not given explicitly on the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["check_new_run_args", "apply_resume_settings", "resume_command", "model_kwargs"]

# TrainConfig field -> (argparse dest, to_args(saved value)) where they differ from the identity
_SPECIAL = {
    "grad_clip": ("grad_clip", lambda v: 0.0 if v is None else v),
    "ema_decay": ("ema_decay", lambda v: 0.0 if v is None else v),
    "fit_normalization": ("fit_normalization", lambda v: {None: "auto", True: "yes"}.get(v, "no")),
    "loggers": ("logger", lambda v: list(v) if v else ["csv"]),
    "progress": ("no_progress", lambda v: not v),
}
# set by the command line of the resumed run, never taken from the checkpoint
_RUNTIME = {"out_dir", "init_from", "device", "teacher"}


def model_kwargs(text: str, option: str = "--model-kwargs") -> dict:
    """A JSON-object option (``--model-kwargs``, ``--lr-scale``) as a dict, with an error
    naming the option (a config file's mapping arrives here as JSON text too)."""
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{option} is not valid JSON ({err}): {text!r}") from None
    if not isinstance(kwargs, dict):
        raise ValueError(f"{option} must be a JSON object, got {text!r}")
    return kwargs


def lr_scale(text: str | None) -> dict | None:
    """``--lr-scale '{"prefix.": factor}'`` as a dict (``None`` when not given)."""
    if text is None:
        return None
    return model_kwargs(text, "--lr-scale") or None


LR_SCALE_HELP = (
    'JSON {"parameter-name prefix": factor}: lr * factor for those parameters, 0 freezes them '
    """(e.g. '{"sevennet.": 0}' trains only a pretrained model's new cutoff conditioning)"""
)


def check_new_run_args(args: argparse.Namespace) -> None:
    """ValueError for options that cannot work together, naming the option and value."""
    if args.model_init is None:
        model_kwargs(args.model_kwargs)
    for option in ("model_init", "init_from"):
        path = getattr(args, option)
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"--{option.replace('_', '-')}: no such checkpoint: {path}")
    if args.val_fraction is not None and not 0 < args.val_fraction < 1:
        raise ValueError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    if args.model_init is not None:
        return  # the cutoff range comes from the checkpoint; the Trainer checks it
    r_max = args.r_max if args.r_max is not None else (args.fixed_cutoff or 6.0)
    if args.fixed_cutoff is not None:
        if args.fixed_cutoff > r_max:
            raise ValueError(f"--fixed-cutoff {args.fixed_cutoff} is larger than --r-max {r_max}")
        low, what = 0.0, f"(0, r_max = {r_max}]"
    else:
        if args.r_min is None:
            raise ValueError("FCL training needs --r-min (or use --fixed-cutoff R for SCL)")
        if args.r_min >= r_max:
            raise ValueError(f"--r-min {args.r_min} must be smaller than --r-max {r_max}")
        low, what = args.r_min, f"the trained range [r_min = {args.r_min}, r_max = {r_max}]"
    bad = [c for c in args.val_cutoffs or () if not low <= c <= r_max]
    if bad:
        raise ValueError(f"--val-cutoffs {bad} lie outside {what}")


def _parser_defaults(add_parser) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    p = add_parser(sub)
    return {a.dest: a.default for a in p._actions if a.dest != "help"}


def apply_resume_settings(args: argparse.Namespace, add_parser) -> dict:
    """Fill ``args`` with the resumed run's settings wherever no value was given explicitly.

    Args:
        args: parsed options (modified in place).
        add_parser: the subcommand's ``add_parser`` (gives the option defaults).

    Returns:
        dict: the saved ``TrainConfig`` fields.

    Raises:
        ValueError: the checkpoint holds no training state.
    """
    from ..checkpoint import read_checkpoint

    ckpt = read_checkpoint(args.resume)
    state = ckpt.get("training_state")
    if not isinstance(state, dict) or "config" not in state:
        raise ValueError(
            f"--resume {args.resume}: holds no training state (a model saved by save_model or a "
            "best.pt of an old version?); resume from the run's last.pt, or start a new run "
            "with --init-from"
        )
    saved = dict(state["config"])
    defaults = _parser_defaults(add_parser)
    for field, value in saved.items():
        if field in _RUNTIME:
            continue
        dest, convert = _SPECIAL.get(field, (field, lambda v: v))
        if hasattr(args, dest) and getattr(args, dest) == defaults.get(dest):
            setattr(args, dest, convert(value))
    return saved


def resume_command(args: argparse.Namespace, checkpoint: Path | None) -> str:
    """The command that continues an interrupted run (its options are in OUT/config.yaml)."""
    out = Path(args.out)
    last = checkpoint or out / "last.pt"
    config = out / "config.yaml"
    prog = "pyg-fcl" if not sys.argv or sys.argv[0].endswith("pyg-fcl") else "python -m pyg_fcl"
    if config.is_file():
        return f"{prog} train --config {shlex.quote(str(config))} --resume {shlex.quote(str(last))}"
    train = " ".join(shlex.quote(str(t)) for t in args.train)
    return (
        f"{prog} train --train {train} --resume {shlex.quote(str(last))} "
        f"--out {shlex.quote(str(out))}"
    )
