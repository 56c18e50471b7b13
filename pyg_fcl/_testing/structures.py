"""Plumbing of :mod:`pyg_fcl.testing`: structures as plain tensors, fresh ``Data``, model runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from ase import Atoms
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..data import atoms_to_data

__all__ = ["Structure", "as_structure", "run", "run_batch", "model_dtype", "tolerances", "close"]

# (atol, rtol) of comparisons that should agree to round-off
_TOLERANCES = {torch.float64: (1e-8, 1e-7), torch.float32: (1e-4, 1e-4)}


@dataclass(frozen=True)
class Structure:
    """One structure: ``z`` ``[N]``, ``pos`` ``[N, 3]``, ``cell`` ``[3, 3]``, ``pbc`` ``[3]``,
    ``cutoff`` ``[N]`` (or ``None``: the model's ``r_max``)."""

    z: Tensor
    pos: Tensor
    cell: Tensor
    pbc: Tensor
    cutoff: Tensor | None
    name: str = "structure"

    @property
    def num_atoms(self) -> int:
        return int(self.z.numel())

    @property
    def periodic(self) -> bool:
        """Fully periodic with a non-degenerate cell (stress and supercells make sense)."""
        return bool(self.pbc.all()) and abs(float(torch.linalg.det(self.cell))) > 1e-12

    def with_(self, **changes) -> Structure:
        return replace(self, **changes)

    def to_data(self, cutoff: Tensor | None = None) -> Data:
        """A fresh ``Data`` (no cached graph); ``cutoff`` overrides ``self.cutoff``."""
        data = Data(
            z=self.z.clone(),
            pos=self.pos.clone(),
            cell=self.cell.clone().unsqueeze(0),
            pbc=self.pbc.clone().unsqueeze(0),
        )
        cutoff = self.cutoff if cutoff is None else cutoff
        if cutoff is not None:
            data.cutoff = cutoff if cutoff.requires_grad else cutoff.clone()
        return data


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The model's floating dtype: that of an FCLModel's energy buffers (what ``prepare`` casts
    inputs to), else of its first floating-point parameter or buffer (float64 without any)."""
    energies = getattr(model, "atomic_energies", None)
    if isinstance(energies, Tensor) and energies.is_floating_point():
        return energies.dtype
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float64


def tolerances(
    model: torch.nn.Module, atol: float | None, rtol: float | None
) -> tuple[float, float]:
    default = _TOLERANCES.get(model_dtype(model), _TOLERANCES[torch.float32])
    return (default[0] if atol is None else atol, default[1] if rtol is None else rtol)


def as_structure(
    model: torch.nn.Module,
    structure: Data | Atoms | Structure,
    cutoff=None,
    name: str | None = None,
) -> Structure:
    """Convert a ``Data`` / ``ase.Atoms`` (and cutoffs) to a :class:`Structure` in the model dtype.

    Args:
        model: the model (its dtype is used).
        structure: one structure (a ``Batch`` with several graphs is rejected).
        cutoff: ``[N]`` tensor, a float (same cutoff everywhere), or ``None`` (``data.cutoff``
            when present, else the model's ``r_max``).
        name: label used in error messages.
    """
    dtype = model_dtype(model)
    if isinstance(structure, Structure):
        s = structure
    else:
        if isinstance(structure, Atoms):
            label = name or structure.get_chemical_formula()
            data = atoms_to_data(structure, dtype=dtype)
        elif isinstance(structure, Data):
            if isinstance(structure, Batch) and structure.num_graphs != 1:
                raise ValueError(f"expected one structure, got a Batch of {structure.num_graphs}")
            label = name or str(getattr(structure, "system", "") or "structure")
            data = structure
        else:
            raise TypeError(f"expected a torch_geometric Data or ase.Atoms, got {type(structure)}")
        cell = getattr(data, "cell", None)
        pbc = getattr(data, "pbc", None)
        s = Structure(
            z=data.z.detach().long(),
            pos=data.pos.detach().to(dtype),
            cell=(torch.zeros(3, 3) if cell is None else cell.detach()).reshape(3, 3).to(dtype),
            pbc=(torch.zeros(3, dtype=torch.bool) if pbc is None else pbc).reshape(3).bool(),
            cutoff=None,
            name=label,
        )
        if cutoff is None and getattr(data, "cutoff", None) is not None:
            cutoff = data.cutoff
    if cutoff is not None:
        cutoff = torch.as_tensor(cutoff, dtype=dtype).detach()
        cutoff = cutoff.expand(s.num_atoms).clone() if cutoff.dim() == 0 else cutoff.clone()
        if cutoff.shape != (s.num_atoms,):
            raise ValueError(
                f"{s.name}: cutoff has shape {tuple(cutoff.shape)}, expected ({s.num_atoms},)"
            )
        s = s.with_(cutoff=cutoff)
    elif s.cutoff is None:
        s = s.with_(cutoff=torch.full((s.num_atoms,), float(model.r_max), dtype=dtype))
    return s


def _detach(out: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach() for k, v in out.items() if isinstance(v, Tensor)}


def run(model, s: Structure, stress: bool = False, cutoff: Tensor | None = None, **kwargs) -> dict:
    """Run the model on a fresh ``Data`` of ``s``; outputs detached."""
    return _detach(model(s.to_data(cutoff), compute_stress=stress, **kwargs))


def run_batch(model, structures: list[Structure], stress: bool = False) -> dict:
    """Run the model on one ``Batch`` of fresh ``Data`` objects; outputs detached."""
    batch = Batch.from_data_list([s.to_data() for s in structures])
    return _detach(model(batch, compute_stress=stress))


def close(
    what: str, actual: Tensor, expected: Tensor, atol: float, rtol: float, where: str
) -> None:
    """``assert_close`` with a message naming the quantity, the structure and the worst entry."""
    actual, expected = actual.detach(), expected.detach().to(actual.dtype)
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{where}: {what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
        )
    if actual.numel() == 0:
        return
    diff = (actual - expected).abs()
    bound = atol + rtol * expected.abs()
    bad = diff > bound
    if bool(bad.any()) or not bool(torch.isfinite(actual).all()):
        idx = int(torch.argmax(diff - bound)) if bool(torch.isfinite(diff).all()) else 0
        loc = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), actual.shape))
        raise AssertionError(
            f"{where}: {what} differs at index {loc}: got {float(actual.flatten()[idx]):.10g}, "
            f"expected {float(expected.flatten()[idx]):.10g} (max |diff| {float(diff.max()):.3g}, "
            f"atol={atol:g}, rtol={rtol:g}, {int(bad.sum())} of {bad.numel()} entries off)"
        )
