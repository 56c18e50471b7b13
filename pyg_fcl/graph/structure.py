"""Private helpers: which structure each atom belongs to, and the periodic cell of each."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data


def _get(data: Data, key: str) -> Tensor | None:
    return data[key] if key in data else None


def graph_assignment(data: Data) -> tuple[Tensor, int]:
    """Structure index of each atom and the number of structures.

    A :class:`~torch_geometric.data.Batch` uses its ``batch`` vector; a ``Data`` without one is a
    single structure.

    Returns:
        tuple: ``batch`` (Tensor) ``[num_nodes]`` long, and ``num_graphs`` (int).
    """
    num_nodes = data.num_nodes
    device = data.pos.device if _get(data, "pos") is not None else None
    batch = _get(data, "batch")
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device), 1
    if isinstance(data, Batch):
        return batch, data.num_graphs
    return batch, int(batch.max()) + 1 if batch.numel() else 1


def periodic_cell(data: Data, num_graphs: int) -> tuple[Tensor | None, Tensor | None]:
    """The cell ``[num_graphs, 3, 3]`` and pbc ``[num_graphs, 3]``, or ``(None, None)``.

    A structure is non-periodic when ``pbc`` is missing or all ``False``.

    Raises:
        ValueError: ``pbc`` is set without a ``cell``, or shapes do not match ``num_graphs``.
    """
    cell, pbc = _get(data, "cell"), _get(data, "pbc")
    if pbc is None:
        return None, None
    pbc = pbc.reshape(-1, 3).bool()
    if not bool(pbc.any()):
        return None, None
    if cell is None:
        raise ValueError("data.pbc has periodic directions but data.cell is missing")
    cell = cell.reshape(-1, 3, 3).to(data.pos.dtype)
    if cell.size(0) != num_graphs or pbc.size(0) != num_graphs:
        raise ValueError(
            f"data.cell {list(cell.shape)} and data.pbc {list(pbc.shape)} must hold one entry "
            f"per structure ({num_graphs} structures)"
        )
    return cell, pbc
