"""Cutoffs given to an MD engine integration, checked once against the model they are for.

Files are read and element mappings parsed when the integration is built, not on every step,
and per-element cutoffs naming an element the model does not know are refused up front (a typo
like ``{"Si": 4.0}`` for a C/H/O model would otherwise only surface mid-run, or never).
The per-atom tensor itself always comes from :func:`pyg_fcl.graph.resolve_cutoffs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import Tensor

from .cutoff_spec import CutoffSpec, load_cutoffs
from .cutoffs import CutoffsLike, resolve_cutoffs

__all__ = ["prepare_cutoffs", "per_atom_cutoffs"]


def prepare_cutoffs(cutoffs: CutoffsLike, model: torch.nn.Module, source: str = "cutoffs"):
    """Load a cutoffs file / parse a mapping once and check it against ``model``.

    Args:
        cutoffs: anything :func:`pyg_fcl.graph.resolve_cutoffs` accepts.
        model: the FCL model (``r_max``, ``elements``).
        source (str): name of the input in error messages.

    Returns:
        The cutoffs with a path or mapping turned into a :class:`~pyg_fcl.graph.CutoffSpec`;
        other forms unchanged.

    Raises:
        ValueError: a per-element cutoff for an element the model does not know, or a cutoff
            outside the model's ``[r_min, r_max]`` (named with its source).
    """
    if isinstance(cutoffs, (str, os.PathLike)):
        source = repr(os.fspath(cutoffs))
        cutoffs = load_cutoffs(cutoffs)
    elif isinstance(cutoffs, Mapping):
        cutoffs = CutoffSpec.from_elements(cutoffs)
    if isinstance(cutoffs, CutoffSpec):
        known = set(getattr(model, "elements", ()) or ())
        if cutoffs.kind == "element" and known:
            extra = sorted(set(cutoffs.elements) - known)
            if extra:
                names = ", ".join(f"{chemical_symbols[z]} (Z={z})" for z in extra)
                have = ", ".join(chemical_symbols[z] for z in sorted(known))
                raise ValueError(
                    f"{source}: cutoffs for {names}, which the model does not know "
                    f"(model elements: {have})"
                )
        values = {"global": [cutoffs.value], "element": [], "atom": []}[cutoffs.kind]
        values += list((cutoffs.elements or {}).values()) + list(cutoffs.atoms or ())
        _check_range(values, model, source)
    elif cutoffs is not None and not isinstance(cutoffs, Tensor):
        _check_range(cutoffs, model, source)  # a number or a per-atom array
    return cutoffs


def _check_range(values, model, source: str) -> None:
    """Every value in ``[r_min, r_max]`` of the model (``resolve_cutoffs``' checks and errors)."""
    flat = torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(-1)
    resolve_cutoffs(
        flat,
        r_max=float(model.r_max),
        r_min=getattr(model, "r_min", None),
        allow_below_r_min=bool(getattr(model, "allow_below_r_min", False)),
        num_nodes=flat.numel(),
        source=source,
    )


def per_atom_cutoffs(
    cutoffs: CutoffsLike,
    z: Tensor,
    model: torch.nn.Module,
    *,
    dtype: torch.dtype,
    batch: Tensor | None = None,
    source: str = "cutoffs",
) -> Tensor:
    """``[N]`` cutoffs for atomic numbers ``z`` ``[N]`` (one call of ``resolve_cutoffs``).

    Cutoffs below the model's trained ``r_min`` are refused unless
    ``model.allow_below_r_min`` is set (as for the model and :class:`~pyg_fcl.FCLCalculator`).
    """
    return resolve_cutoffs(
        cutoffs,
        z,
        r_max=float(model.r_max),
        r_min=getattr(model, "r_min", None),
        allow_below_r_min=bool(getattr(model, "allow_below_r_min", False)),
        dtype=dtype,
        device=z.device,
        batch=batch,
        source=source,
    )
