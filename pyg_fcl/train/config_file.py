"""Config files for command lines: ``pyg-fcl train --config run.yaml``.

Every option of a command has a key: its flag without the leading ``--`` and with ``_`` for
``-`` (``--batch-size`` -> ``batch_size``, ``--no-progress`` -> ``no_progress``). Values have the
option's type (lists for options taking several values, ``true``/``false`` for switches);
``model_kwargs`` is a mapping. Flags given on the command line override the file; a key that is
no option of the command is an error naming the key and the file. :func:`save_resolved_config`
writes every option's final value, so ``--config OUT/config.yaml`` repeats the run.

Example ``run.yaml``::

    train: [data/mad_sample/train.xyz]
    val_fraction: 0.1
    r_min: 3.5
    r_max: 7.0
    batch_size: 8
    model_kwargs: {num_channels: 32, l_max: 2}
    out: runs/fcl

A parser gets the ``--config`` option with :func:`enable_config_file`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text

__all__ = ["enable_config_file", "load_config_file", "resolved_config", "save_resolved_config"]

#: options whose value is a JSON object on the command line and a mapping in a file
_MAPPING_OPTIONS = ("model_kwargs", "lr_scale")
#: namespace entries that are not options
_NOT_OPTIONS = ("config", "run", "command", "help")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML (or JSON, a subset of YAML) config file into a mapping.

    Raises:
        ValueError: missing file, invalid YAML, or not a mapping at the top (names the file).
    """
    import yaml

    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"config file {source!r} does not exist") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"config file {source!r} is not valid YAML: {err}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"config file {source!r} must hold a mapping of option: value")
    return values


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        a.dest: a
        for a in parser._actions
        if a.dest not in _NOT_OPTIONS and a.option_strings and a.dest != argparse.SUPPRESS
    }


def _convert(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    """A file value checked and converted as the option would convert a command-line string."""
    where = f"config file {source!r}, key {key!r}"
    if key in _MAPPING_OPTIONS:
        if value is None and action.default is None:  # e.g. lr_scale: null (not given)
            return None
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return json.dumps(value)
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if value is None:
        return None
    many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    if many and not isinstance(value, list):
        value = [value]
    if not many and isinstance(value, (list, dict)):
        raise ValueError(f"{where}: expected one value, got {value!r}")

    def one(item):
        if isinstance(item, (list, dict)):
            raise ValueError(f"{where}: expected a plain value, got {item!r}")
        if isinstance(item, bool) and action.type in (int, float):
            raise ValueError(f"{where}: expected a number, got {item!r}")
        if isinstance(item, bool) and action.choices and {"yes", "no"} <= set(action.choices):
            item = "yes" if item else "no"  # YAML reads a bare yes/no as a boolean
        try:
            item = action.type(item) if action.type is not None else str(item)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: invalid value {item!r} ({err})") from None
        if action.choices is not None and item not in action.choices:
            raise ValueError(f"{where}: {item!r} is not one of {list(action.choices)}")
        return item

    return [one(v) for v in value] if many else one(value)


def _config_path(args: list[str]) -> str | None:
    path = None
    for k, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config" and k + 1 < len(args):
            path = args[k + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    return path


class _ConfigFileParser(argparse.ArgumentParser):
    """An ArgumentParser whose option defaults come from ``--config FILE`` when given."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(args) if args is not None else []
        path = _config_path(args)
        if path is None:
            return super().parse_known_args(args, namespace)
        options = _options(self)
        try:
            values = load_config_file(path)
            unknown = sorted(set(values) - set(options))
            if unknown:
                raise ValueError(
                    f"config file {path!r}: unknown key(s) {unknown}; valid keys are this "
                    f"command's options with '_' for '-': {sorted(options)}"
                )
            converted = {k: _convert(options[k], k, v, path) for k, v in values.items()}
        except ValueError as err:
            self.error(str(err))
        saved = {}
        try:
            for key, value in converted.items():
                action = options[key]
                saved[key] = (action.default, action.required)
                action.default = value
                action.required = False
            return super().parse_known_args(args, namespace)
        finally:
            for key, (default, required) in saved.items():
                options[key].default, options[key].required = default, required


def enable_config_file(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` a ``--config FILE`` option whose keys set the other options' defaults.

    Works for a subcommand's parser (``subparsers.add_parser(...)``) too; returns ``parser``.
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of option values (keys: option names with '_', e.g. batch_size; "
        "command-line flags override it)",
    )
    parser.__class__ = type("ConfigFileArgumentParser", (_ConfigFileParser, type(parser)), {})
    return parser


def resolved_config(args: argparse.Namespace) -> dict[str, Any]:
    """Every option's final value as plain YAML-ready values (``model_kwargs`` a mapping)."""
    out = {}
    for key, value in vars(args).items():
        if key in _NOT_OPTIONS or key.startswith("_") or callable(value):
            continue
        if key in _MAPPING_OPTIONS and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


def save_resolved_config(args: argparse.Namespace, path: str | os.PathLike) -> Path:
    """Write :func:`resolved_config` as YAML to ``path`` (atomically); returns the path."""
    import yaml

    path = Path(path)
    header = "# resolved options of this run: `pyg-fcl train --config <this file>` repeats it\n"
    text = yaml.safe_dump(resolved_config(args), sort_keys=False, default_flow_style=None)
    atomic_write_text(path, header + text)
    return path
