"""Checkpoints of pyg-fcl models: constructor config + ``state_dict``, never a pickled module.

Format (a ``dict`` saved with :func:`torch.save`, loadable with ``weights_only=True``)::

    {"format": "pyg-fcl-model", "version": 1,
     "class": "package.module:ClassName",  # an FCLModel subclass
     "config": {...},                       # its constructor keyword arguments
     "state_dict": {...},
     "r_min": float, "r_max": float, "edge_rule": str, "elements": [int, ...],
     "meta": {...}}                         # free-form (training settings, metrics)

Writes are atomic (temporary file in the same directory, then ``os.replace``), so an interrupted
save never destroys an existing checkpoint.

Reading is safe with untrusted files: tensors and plain values only (``weights_only=True``), and
the ``class`` field is checked against the known model classes *before* anything is imported:
every FCLModel subclass already defined, plus classes of pyg-fcl's own packages
(:data:`TRUSTED_PACKAGES`); a module that is neither imported yet nor pyg-fcl's is never
imported. A checkpoint of your own model class loads once you have imported the module that
defines it. Empty, truncated or foreign files, configs or weights that do not fit the class, and
NaN/Inf weights give a ``ValueError`` naming the file.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from ._atomic import atomic_write
from .model import FCLModel

__all__ = [
    "save_model",
    "load_model",
    "atomic_torch_save",
    "check_finite_weights",
    "CHECKPOINT_VERSION",
    "TRUSTED_PACKAGES",
]

CHECKPOINT_FORMAT = "pyg-fcl-model"
CHECKPOINT_VERSION = 1


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then atomically rename it."""
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def model_checkpoint(model: FCLModel, meta: dict | None = None) -> dict:
    """The checkpoint dict of ``model`` (see module docstring)."""
    if not isinstance(model, FCLModel):
        raise TypeError(f"expected an FCLModel, got {type(model).__name__}")
    cls = type(model)
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config": model.config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "r_min": model.r_min,
        "r_max": model.r_max,
        "edge_rule": model.edge_rule,
        "elements": list(model.elements),
        "dtype": _float_dtype(model),
        "meta": dict(meta or {}),
    }


def _float_dtype(model: FCLModel) -> str:
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    return str(dtypes.pop()).removeprefix("torch.") if len(dtypes) == 1 else "float32"


def save_model(model: FCLModel, path: str | os.PathLike, meta: dict | None = None) -> None:
    """Save ``model`` atomically as a pyg-fcl checkpoint."""
    atomic_torch_save(model_checkpoint(model, meta), path)


#: Packages whose model classes a checkpoint may name even before they are imported (pyg-fcl's
#: own). Any other class must already be defined (its module imported by the caller), so that
#: reading a checkpoint never imports a module it names: no import side effects can run.
TRUSTED_PACKAGES = ("pyg_fcl", "pyg_fcl_models")


def _known_model_classes() -> dict[str, type[FCLModel]]:
    """``"module:QualName"`` of every FCLModel subclass defined so far."""
    known, todo = {}, [FCLModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            known[f"{sub.__module__}:{sub.__qualname__}"] = sub
            todo.append(sub)
    return known


def _model_class(spec: object, path: Path) -> type[FCLModel]:
    """The class a checkpoint names, checked against the allow-list before importing anything."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"{path}: model class {spec!r} is not of the form 'module:ClassName'")
    known = _known_model_classes()
    if spec in known:
        return known[spec]
    module_name, _, qualname = spec.partition(":")
    trusted = module_name.split(".")[0] in TRUSTED_PACKAGES
    if module_name not in sys.modules and not trusted:
        raise ValueError(
            f"{path}: model class {spec!r} is not a known pyg-fcl model; refusing to import "
            f"{module_name!r} for it. If you trust this checkpoint, import the module defining "
            f"the class first (import {module_name}), then load it"
        )
    try:
        obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{path}: model class {spec!r} cannot be imported ({err})") from err
    if not (isinstance(obj, type) and issubclass(obj, FCLModel)):
        raise ValueError(f"{path}: {spec!r} is not an FCLModel subclass")
    return obj


def _torch_load(path: Path, map_location) -> Any:
    """``torch.load(weights_only=True)`` with messages for files that are no checkpoint."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, not a pyg-fcl model checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) and "GLOBAL" in str(err).upper():
            raise ValueError(
                f"{path}: holds Python objects other than tensors and plain values; refused "
                "(pyg-fcl checkpoints never need them, and loading them could run code)"
            ) from None
        raise ValueError(
            f"{path}: not a pyg-fcl model checkpoint (not a torch.save file, or corrupted)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{path}: not a readable pyg-fcl model checkpoint (truncated or corrupted file? "
            f"{first[:200]})"
        ) from None


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint dict written by :func:`save_model` (or the trainer).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty, truncated, corrupted or foreign file (never torch's advice to
            load with ``weights_only=False``), or a checkpoint newer than this pyg-fcl.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    ckpt = _torch_load(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a pyg-fcl model checkpoint (no format marker)")
    try:
        version = int(ckpt.get("version", -1))
    except (TypeError, ValueError):
        raise ValueError(f"{path}: invalid checkpoint version {ckpt.get('version')!r}") from None
    if version > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt['version']} is newer than this pyg-fcl "
            f"({CHECKPOINT_VERSION}); upgrade pyg-fcl"
        )
    missing = [k for k in ("class", "config", "state_dict") if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}")
    return ckpt


def check_finite_weights(model: torch.nn.Module, source: str) -> None:
    """ValueError naming the first parameter or buffer with a NaN/Inf entry."""
    for name, value in [*model.named_parameters(), *model.named_buffers()]:
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value.detach())).sum())
            raise ValueError(
                f"{source}: weights are not finite: {name} has {bad} NaN/Inf entries of "
                f"{value.numel()} (a diverged training run?)"
            )


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> FCLModel:
    """Load any model checkpoint written by pyg-fcl (reference models, wrapped PyG models).

    Args:
        path: checkpoint file.
        map_location: device to load tensors on.

    Returns:
        FCLModel: the model in eval mode, with ``model.checkpoint_meta`` holding ``meta``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable pyg-fcl checkpoint, an unknown model class (not imported),
            a config or weights that do not fit the class, or non-finite weights.
    """
    ckpt = read_checkpoint(path, map_location)
    cls = _model_class(ckpt["class"], Path(path))
    if not isinstance(ckpt["config"], dict):
        raise ValueError(f"{path}: checkpoint config is not a dict")
    try:
        model = cls(**ckpt["config"])
    except TypeError as err:
        raise ValueError(f"{path}: config does not fit {ckpt['class']} ({err})") from None
    dtype = getattr(torch, str(ckpt.get("dtype", "float32")), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{path}: unknown parameter dtype {ckpt.get('dtype')!r}")
    model = model.to(dtype)  # the dtype the model was saved in (e.g. float64)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"{path}: weights do not fit {ckpt['class']} ({first[:300]})") from None
    check_finite_weights(model, str(path))
    model.checkpoint_meta = ckpt.get("meta", {})
    return model.to(map_location).eval()
