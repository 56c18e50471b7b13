"""Edge vectors from positions and integer shifts, differentiable in ``pos`` and ``cell``."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["edge_vectors"]


def edge_vectors(
    pos: Tensor,
    edge_index: Tensor,
    edge_shift: Tensor | None = None,
    cell: Tensor | None = None,
    batch: Tensor | None = None,
) -> Tensor:
    """Vectors from centre to neighbour, ``pos[j] - pos[i] + edge_shift @ cell[batch[i]]``.

    Differentiable with respect to ``pos`` and ``cell`` (forces and stress by autograd).

    Args:
        pos (Tensor): ``[num_nodes, 3]``.
        edge_index (Tensor): ``[2, num_edges]``, row 0 neighbour ``j``, row 1 centre ``i``.
        edge_shift (Tensor, optional): ``[num_edges, 3]`` integer lattice shifts.
        cell (Tensor, optional): ``[num_graphs, 3, 3]`` (or ``[3, 3]``) lattice vectors as rows.
        batch (Tensor, optional): ``[num_nodes]`` structure index; needed when ``cell`` holds
            several structures.

    Returns:
        Tensor: ``[num_edges, 3]`` in the dtype of ``pos``.
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, num_edges], got {list(edge_index.shape)}")
    j, i = edge_index[0], edge_index[1]
    vec = pos.index_select(0, j) - pos.index_select(0, i)
    if cell is None or edge_shift is None:
        return vec
    if edge_shift.shape != (edge_index.shape[1], 3):
        raise ValueError(
            f"edge_shift must have shape [num_edges, 3] = [{edge_index.shape[1]}, 3], "
            f"got {list(edge_shift.shape)}"
        )
    shift = edge_shift.to(pos.dtype)
    cell = cell.to(pos.dtype)
    if cell.dim() == 2:
        cell = cell.unsqueeze(0)
    if cell.dim() != 3 or tuple(cell.shape[1:]) != (3, 3):
        raise ValueError(f"cell must have shape [num_graphs, 3, 3], got {list(cell.shape)}")
    if cell.shape[0] == 1:
        return vec + shift @ cell[0]
    if batch is None:
        raise ValueError(
            f"batch is required when cell holds {cell.shape[0]} structures (cell shape "
            f"{list(cell.shape)})"
        )
    edge_cell = cell.index_select(0, batch.index_select(0, i))
    return vec + torch.einsum("ek,ekl->el", shift, edge_cell)
