"""The one place where anything a user passes as cutoffs becomes the per-atom tensor.

:func:`resolve_cutoffs` accepts every form the library documents — ``None`` (``r_max``
everywhere), a number (one global cutoff), a 0-d or ``[num_nodes]`` tensor (gradients flow), a
per-atom sequence or array, a mapping ``{element: cutoff}`` (symbol or atomic number), the path
of a cutoffs file, or a :class:`~pyg_fcl.graph.CutoffSpec` — and checks the result once, with one
set of errors: every value finite, in ``(0, r_max]``, and not below the model's trained ``r_min``
unless the caller explicitly allows it (then a warning is issued). The model, the transforms,
the calculator, evaluation and the cost model all go through it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .cutoff_spec import CutoffSpec, load_cutoffs

__all__ = ["CutoffsLike", "resolve_cutoffs", "validate_cutoff", "BelowTrainedRangeWarning"]

#: Everything :func:`resolve_cutoffs` accepts.
CutoffsLike = (
    None
    | float
    | int
    | Tensor
    | np.ndarray
    | Sequence[float]
    | Mapping[str | int, float]
    | str
    | os.PathLike
    | CutoffSpec
)


class BelowTrainedRangeWarning(UserWarning):
    """Cutoffs below the model's trained ``r_min`` were allowed explicitly (extrapolation)."""


def _spec_per_atom(spec: CutoffSpec, z: Tensor, dtype: torch.dtype) -> Tensor:
    n = z.numel()
    if spec.kind == "atom" and n > len(spec.atoms) and n % len(spec.atoms) == 0:
        # a supercell made by ``atoms.repeat``: whole copies of the cell, atoms in the same order
        cell_z = z[: len(spec.atoms)]
        copies = n // len(spec.atoms)
        if torch.equal(z, cell_z.repeat(copies)):
            return spec.per_atom(cell_z, dtype=dtype).repeat(copies)
    return spec.per_atom(z, dtype=dtype)


def _to_tensor(cutoffs, z: Tensor | None, n: int, dtype, device, source: str) -> Tensor:
    """The raw per-atom (or scalar) tensor, before the range checks."""
    if isinstance(cutoffs, (str, os.PathLike)):
        cutoffs = load_cutoffs(cutoffs)
    elif isinstance(cutoffs, Mapping):
        cutoffs = CutoffSpec.from_elements(cutoffs)
    if isinstance(cutoffs, CutoffSpec):
        if z is None:
            raise ValueError(f"{source}: cutoffs of kind {cutoffs.kind!r} need the atomic numbers")
        return _spec_per_atom(cutoffs, z.reshape(-1).cpu(), torch.float64).to(dtype=dtype)
    if isinstance(cutoffs, Tensor):
        if not cutoffs.is_floating_point():
            cutoffs = cutoffs.to(dtype)
        return cutoffs.to(dtype=dtype, device=device)  # differentiable cast
    if isinstance(cutoffs, bool) or cutoffs is Ellipsis:
        raise ValueError(f"{source} must be a number, not {cutoffs!r}")
    if isinstance(cutoffs, (int, float, np.number)):
        return torch.tensor(float(cutoffs), dtype=dtype, device=device)
    if isinstance(cutoffs, (Sequence, np.ndarray)):
        try:
            values = np.asarray(cutoffs, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{source}: a per-atom cutoff list must hold numbers, got {list(cutoffs)[:5]!r}"
            ) from None
        return torch.as_tensor(values, dtype=dtype, device=device)
    raise ValueError(
        f"{source} must be None, a number, a per-atom array or tensor, a mapping element -> "
        f"cutoff, a CutoffSpec or the path of a cutoffs file; got {type(cutoffs).__name__}"
    )


def _where(idx: int, batch: Tensor | None) -> str:
    where = f"atom {idx}"
    if batch is not None:
        graph = int(batch[idx])
        local = idx - int((batch < graph).sum())
        where += f" (structure {graph}, atom {local} within it)"
    return where


def resolve_cutoffs(
    cutoffs: CutoffsLike,
    z: Tensor | Sequence[int] | None = None,
    *,
    r_max: float,
    r_min: float | None = None,
    allow_below_r_min: bool = False,
    num_nodes: int | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    batch: Tensor | None = None,
    source: str = "cutoffs",
) -> Tensor:
    """Per-atom cutoffs ``[num_nodes]`` from anything a user may pass, checked once.

    Args:
        cutoffs: ``None`` (``r_max`` everywhere), a number, a 0-d / one-element / ``[num_nodes]``
            tensor (gradients flow through the result), a per-atom sequence or array, a mapping
            ``{element: cutoff}`` (``"O"`` or ``8``), a cutoffs-file path, or a
            :class:`~pyg_fcl.graph.CutoffSpec`. A per-atom spec written for one cell also
            applies to a supercell made by ``atoms.repeat`` (its values are tiled).
        z (Tensor or list[int], optional): ``[num_nodes]`` atomic numbers (needed for per-element
            and per-atom specs; also gives ``num_nodes``).
        r_max (float): largest allowed cutoff (Å), compared in the result's dtype.
        r_min (float, optional): smallest trained cutoff (Å). Values below it are an error
            unless ``allow_below_r_min``; then a :class:`BelowTrainedRangeWarning` is issued.
        allow_below_r_min (bool): accept cutoffs in ``(0, r_min)`` (extrapolation).
        num_nodes (int, optional): number of atoms when ``z`` is not given.
        dtype (torch.dtype, optional): dtype of the result (default: a floating tensor's own,
            else the default dtype).
        device (torch.device, optional): device of the result (default: that of ``z`` or of a
            given tensor).
        batch (Tensor, optional): ``[num_nodes]`` structure of each atom, used only to name the
            structure and atom in errors.
        source (str): name of the input in error messages (e.g. ``"data.cutoff"``, a file).

    Returns:
        Tensor: ``[num_nodes]`` cutoffs.

    Raises:
        ValueError: a form it does not know, a wrong shape, an element without a cutoff, or a
            value that is not finite, not in ``(0, r_max]`` or below ``r_min``; the message names
            the first offending value, its atom (and structure) and how many atoms are affected.
    """
    if not math.isfinite(r_max) or r_max <= 0:
        raise ValueError(f"r_max must be a finite positive number, got r_max={r_max!r}")
    if z is not None:
        z = torch.as_tensor(z, dtype=torch.long).reshape(-1)
        num_nodes = z.numel() if num_nodes is None else num_nodes
        if device is None:
            device = z.device
    if num_nodes is None:
        raise ValueError(f"{source}: pass the atomic numbers z or num_nodes")
    if dtype is None:
        floating = isinstance(cutoffs, Tensor) and cutoffs.is_floating_point()
        dtype = cutoffs.dtype if floating else torch.get_default_dtype()
    if device is None and isinstance(cutoffs, Tensor):
        device = cutoffs.device
    if cutoffs is None:
        cutoffs = float(r_max)
    cutoff = _to_tensor(cutoffs, z, num_nodes, dtype, device, source)
    if cutoff.numel() == 1 and cutoff.dim() <= 1:
        cutoff = cutoff.reshape(()).expand(num_nodes).contiguous()
    elif tuple(cutoff.shape) != (num_nodes,):
        raise ValueError(
            f"{source} gives cutoffs for {cutoff.numel()} atoms but the structure has "
            f"{num_nodes}: it must be a scalar or have shape [num_nodes] = [{num_nodes}], "
            f"got shape {list(cutoff.shape)}"
        )
    values = cutoff.detach()
    r_max_t = torch.tensor(r_max, dtype=values.dtype, device=values.device)
    bad = ~(torch.isfinite(values) & (values > 0) & (values <= r_max_t))
    if bool(bad.any()):
        idx = int(bad.nonzero()[0, 0])
        value = float(values[idx])
        reason = "is not finite" if not math.isfinite(value) else f"is not in (0, r_max={r_max}]"
        raise ValueError(
            f"{source}[{idx}] = {value!r} {reason}: {_where(idx, batch)}; "
            f"{int(bad.sum())} of {num_nodes} atoms have invalid cutoffs"
        )
    if r_min is not None and num_nodes:
        r_min_t = torch.tensor(r_min, dtype=values.dtype, device=values.device)
        below = values < r_min_t
        if bool(below.any()):
            idx = int(below.nonzero()[0, 0])
            text = (
                f"{source}[{idx}] = {float(values[idx])!r} is below the model's trained "
                f"r_min={r_min} ({_where(idx, batch)}; {int(below.sum())} of {num_nodes} atoms)"
            )
            if not allow_below_r_min:
                raise ValueError(
                    f"{text}: the model never saw such cutoffs. Use cutoffs in "
                    f"[{r_min}, {r_max}], or allow extrapolation explicitly "
                    "(allow_below_r_min=True / --allow-below-r-min)"
                )
            warnings.warn(f"{text}: extrapolating", BelowTrainedRangeWarning, stacklevel=2)
    return cutoff


def validate_cutoff(
    cutoff: Tensor | float,
    r_max: float,
    num_nodes: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    batch: Tensor | None = None,
    source: str = "cutoff",
) -> Tensor:
    """Check a scalar or ``[num_nodes]`` cutoff and return ``[num_nodes]`` (see
    :func:`resolve_cutoffs`, which this calls; kept for its shorter signature).

    Args:
        cutoff (Tensor or float): one value for all atoms, or ``[num_nodes]``.
        r_max (float): largest allowed cutoff (Å). num_nodes (int): number of atoms.
        dtype, device, batch, source: as in :func:`resolve_cutoffs`.
    """
    if not isinstance(cutoff, (Tensor, int, float)) or isinstance(cutoff, bool):
        raise ValueError(f"{source} must be a number or a tensor, got {type(cutoff).__name__}")
    return resolve_cutoffs(
        cutoff,
        r_max=r_max,
        num_nodes=num_nodes,
        dtype=dtype,
        device=device,
        batch=batch,
        source=source,
    )
