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
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch

from ._atomic import atomic_write
from .model import FCLModel

__all__ = ["save_model", "load_model", "atomic_torch_save", "CHECKPOINT_VERSION"]

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


def _model_class(spec: str, path: Path) -> type[FCLModel]:
    module_name, _, qualname = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{path}: model class {spec!r} cannot be imported ({err})") from err
    if not (isinstance(obj, type) and issubclass(obj, FCLModel)):
        raise ValueError(f"{path}: {spec!r} is not an FCLModel subclass")
    return obj


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint dict written by :func:`save_model` (or the trainer)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a pyg-fcl model checkpoint (no format marker)")
    if int(ckpt.get("version", -1)) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt['version']} is newer than this pyg-fcl "
            f"({CHECKPOINT_VERSION}); upgrade pyg-fcl"
        )
    return ckpt


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> FCLModel:
    """Load any model checkpoint written by pyg-fcl (reference models, wrapped PyG models).

    Args:
        path: checkpoint file.
        map_location: device to load tensors on.

    Returns:
        FCLModel: the model in eval mode, with ``model.checkpoint_meta`` holding ``meta``.
    """
    ckpt = read_checkpoint(path, map_location)
    cls = _model_class(ckpt["class"], Path(path))
    model = cls(**ckpt["config"])
    dtype = getattr(torch, str(ckpt.get("dtype", "float32")), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{path}: unknown parameter dtype {ckpt.get('dtype')!r}")
    model = model.to(dtype)  # the dtype the model was saved in (e.g. float64)
    model.load_state_dict(ckpt["state_dict"])
    model.checkpoint_meta = ckpt.get("meta", {})
    return model.to(map_location).eval()
