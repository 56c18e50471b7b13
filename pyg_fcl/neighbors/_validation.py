"""Input validation for the radius graph: shapes, dtypes, finiteness, batch order.

Every check raises :class:`ValueError` naming the offending argument and, where it applies, the
atom or structure index, so that bad data is found at its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Inputs", "validate_inputs", "validate_r_max", "MAX_NEIGHBORS_PER_ATOM"]

#: Refuse a search expected to find more neighbours per atom than this (3D-periodic structures;
#: the density of solids, <= 0.25 atoms/Å^3, gives ~1,000 at 10 Å): an absurd cell (in nm, or a
#: 1-atom 0.05 Å cell) would otherwise allocate millions of edges per atom before failing.
MAX_NEIGHBORS_PER_ATOM = 1e4


@dataclass
class Inputs:
    """Validated, normalised arguments of :func:`radius_graph`.

    Attributes:
        pos (Tensor): ``[num_nodes, 3]`` positions in float64 (detached).
        r_max (float): the cutoff.
        batch (Tensor): ``[num_nodes]`` long, sorted ascending.
        cell (Tensor): ``[num_graphs, 3, 3]`` float64 lattice vectors as rows.
        pbc (Tensor): ``[num_graphs, 3]`` bool.
        ptr (list[int]): ``num_graphs + 1`` offsets of each structure's atoms.
    """

    pos: Tensor
    r_max: float
    batch: Tensor
    cell: Tensor
    pbc: Tensor
    ptr: list[int]

    @property
    def num_nodes(self) -> int:
        return self.pos.shape[0]

    @property
    def num_graphs(self) -> int:
        return self.cell.shape[0]


def validate_r_max(r_max: float | Tensor) -> float:
    """Returns ``r_max`` as a float; ValueError unless it is finite and positive."""
    try:
        value = float(r_max)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"r_max must be a positive finite number, got r_max={r_max!r}") from err
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"r_max must be a positive finite number, got r_max={value!r}")
    return value


def _check_pos(pos: Tensor) -> None:
    if not isinstance(pos, Tensor):
        raise ValueError(f"pos must be a torch.Tensor of shape [num_nodes, 3], got {type(pos)}")
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape [num_nodes, 3], got {list(pos.shape)}")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be a floating-point tensor, got dtype {pos.dtype}")


def _check_batch(batch: Tensor | None, num_nodes: int, device: torch.device) -> Tensor:
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device)
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.shape[0] != num_nodes:
        shape = list(batch.shape) if isinstance(batch, Tensor) else type(batch)
        raise ValueError(f"batch must have shape [num_nodes] = [{num_nodes}], got {shape}")
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise ValueError(f"batch must be an integer tensor, got dtype {batch.dtype}")
    batch = batch.to(device=device, dtype=torch.long)
    if num_nodes == 0:
        return batch
    if int(batch.min()) < 0:
        raise ValueError(f"batch must be non-negative, got min(batch) = {int(batch.min())}")
    if num_nodes > 1:
        down = (batch[1:] < batch[:-1]).nonzero()
        if down.numel() > 0:
            k = int(down[0, 0])
            raise ValueError(
                "batch must be sorted ascending (PyG convention), got "
                f"batch[{k}] = {int(batch[k])} > batch[{k + 1}] = {int(batch[k + 1])}"
            )
    return batch


def _num_graphs(batch: Tensor, cell: Tensor | None, pbc: Tensor | bool | None) -> int:
    if isinstance(cell, Tensor) and cell.dim() == 3:
        return cell.shape[0]
    if isinstance(pbc, Tensor) and pbc.dim() == 2:
        return pbc.shape[0]
    return int(batch.max()) + 1 if batch.numel() > 0 else 1


def _check_cell(cell: Tensor | None, num_graphs: int, device: torch.device) -> Tensor:
    if cell is None:
        return torch.zeros(num_graphs, 3, 3, dtype=torch.float64, device=device)
    if not isinstance(cell, Tensor):
        cell = torch.as_tensor(cell)
    if cell.dim() == 2 and num_graphs == 1:
        cell = cell.unsqueeze(0)
    if cell.dim() != 3 or tuple(cell.shape[1:]) != (3, 3) or cell.shape[0] != num_graphs:
        raise ValueError(
            f"cell must have shape [num_graphs, 3, 3] = [{num_graphs}, 3, 3] (rows are lattice "
            f"vectors), got {list(cell.shape)}"
        )
    if not cell.is_floating_point():
        cell = cell.to(torch.float64)
    cell = cell.detach().to(device=device, dtype=torch.float64)
    bad = ~torch.isfinite(cell).flatten(1).all(1)
    if bool(bad.any()):
        g = int(bad.nonzero()[0, 0])
        raise ValueError(f"cell of structure {g} has a non-finite value: {cell[g].tolist()}")
    return cell


def _check_pbc(
    pbc: Tensor | bool | list | None, cell: Tensor, given_cell: bool, device: torch.device
) -> Tensor:
    num_graphs = cell.shape[0]
    if pbc is None:
        # Periodic exactly where a lattice vector is given (zero rows mean "no cell").
        if not given_cell:
            return torch.zeros(num_graphs, 3, dtype=torch.bool, device=device)
        return cell.abs().sum(-1) > 0
    pbc = torch.as_tensor(pbc, device=device)
    if pbc.is_floating_point():
        raise ValueError(f"pbc must be boolean, got dtype {pbc.dtype}")
    if pbc.dim() == 0:
        pbc = pbc.expand(num_graphs, 3)
    elif pbc.dim() == 1 and pbc.shape[0] == 3 and num_graphs == 1:
        pbc = pbc.unsqueeze(0)
    if pbc.dim() != 2 or tuple(pbc.shape) != (num_graphs, 3):
        raise ValueError(
            f"pbc must have shape [num_graphs, 3] = [{num_graphs}, 3], got {list(pbc.shape)}"
        )
    return pbc.to(torch.bool)


def _check_expected_neighbors(counts: Tensor, cell: Tensor, pbc: Tensor, r_max: float) -> None:
    """ValueError when a 3D-periodic structure would have > MAX_NEIGHBORS_PER_ATOM neighbours per
    atom at its density (estimated before anything is allocated)."""
    full = pbc.all(-1) & (counts > 0)
    if not bool(full.any()):
        return
    volume = torch.linalg.det(cell).abs()
    # singular cells are reported by the cell geometry, with their heights
    full &= volume > 1e-10 * torch.linalg.vector_norm(cell, dim=-1).prod(-1)
    density = counts.to(torch.float64) / volume.clamp(min=1e-300)
    expected = density * (4.0 / 3.0 * math.pi * r_max**3)
    bad = full & ~(expected <= MAX_NEIGHBORS_PER_ATOM)
    if bool(bad.any()):
        g = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"structure {g}: {int(counts[g])} atom(s) in a periodic cell of volume "
            f"{float(volume[g]):.3g} Å^3 ({float(density[g]):.3g} atoms/Å^3) would give about "
            f"{float(expected[g]):.3g} neighbours per atom within r_max={r_max:g} Å; refusing "
            f"(solids have < 0.25 atoms/Å^3; is the cell in nm instead of Å?)"
        )


def validate_inputs(
    pos: Tensor,
    r_max: float | Tensor,
    batch: Tensor | None,
    cell: Tensor | None,
    pbc: Tensor | bool | None,
) -> Inputs:
    """Checks and normalises the arguments of :func:`radius_graph`.

    Args:
        pos (Tensor): ``[num_nodes, 3]``.
        r_max (float or Tensor): cutoff, finite and positive.
        batch (Tensor, optional): ``[num_nodes]``, sorted ascending.
        cell (Tensor, optional): ``[num_graphs, 3, 3]`` (``[3, 3]`` accepted for one structure).
        pbc (Tensor or bool, optional): ``[num_graphs, 3]`` (``[3]`` or a bool accepted).

    Returns:
        Inputs: normalised float64/long/bool tensors on ``pos.device``.
    """
    _check_pos(pos)
    value = validate_r_max(r_max)
    device = pos.device
    batch = _check_batch(batch, pos.shape[0], device)
    num_graphs = _num_graphs(batch, cell, pbc)
    if pos.shape[0] > 0 and int(batch[-1]) >= num_graphs:
        raise ValueError(
            f"batch refers to structure {int(batch[-1])}, but cell/pbc describe only "
            f"{num_graphs} structure(s)"
        )
    pos64 = pos.detach().to(torch.float64)
    bad = ~torch.isfinite(pos64).all(1)
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"pos has a non-finite value at atom {k} (structure {int(batch[k])}): "
            f"{pos64[k].tolist()}"
        )
    cell64 = _check_cell(cell, num_graphs, device)
    pbc_b = _check_pbc(pbc, cell64, cell is not None, device)
    counts = torch.bincount(batch, minlength=num_graphs)
    _check_expected_neighbors(counts, cell64, pbc_b, value)
    ptr = [0] + torch.cumsum(counts, 0).tolist()
    return Inputs(pos=pos64, r_max=value, batch=batch, cell=cell64, pbc=pbc_b, ptr=ptr)
