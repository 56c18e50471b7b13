"""Cell geometry shared by the backends: effective cells, plane heights, image counts, wrapping.

A structure that is periodic in only some directions may leave the other lattice vectors zero (or
arbitrary). The *effective cell* keeps the periodic rows and replaces every non-periodic row by an
orthonormal vector of the complement of the periodic span, so it is always invertible when the
periodic rows are independent. Shifts along non-periodic directions are zero, so the replacement
never changes an edge vector; it only makes fractional coordinates and plane heights well defined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._validation import Inputs

__all__ = ["CellGeometry", "cell_geometry", "wrap_positions"]

# Relative volume |det| / prod(|a_k|) below which periodic lattice vectors count as degenerate.
_DEGENERATE = 1e-10
# Slack (relative) on image counts and windows so that rounding never loses an image.
_SLACK = 1e-8


@dataclass
class CellGeometry:
    """Per-structure cell data derived from :class:`Inputs`.

    Attributes:
        eff (Tensor): ``[num_graphs, 3, 3]`` float64 effective cells (invertible).
        heights (Tensor): ``[num_graphs, 3]`` distance between lattice planes; ``inf`` along
            non-periodic directions.
    """

    eff: Tensor
    heights: Tensor

    def num_images(self, r: float) -> list[list[int]]:
        """Images per direction ``n_k`` so that shifts in ``[-n_k, n_k]`` cover radius ``r``.

        For centres wrapped into the cell, a neighbour image at shift ``s`` can lie within ``r``
        only if ``|s_k| < r / h_k + 1``, i.e. ``|s_k| <= ceil(r / h_k)``; ``floor(.) + 1`` bounds
        that from above with a small slack.

        Returns:
            list[list[int]]: ``[num_graphs][3]``, ``0`` along non-periodic directions.
        """
        return [
            [
                0 if math.isinf(h) else int(math.floor(r / h * (1 + _SLACK) + _SLACK)) + 1
                for h in row
            ]
            for row in self.heights.tolist()
        ]


def _complement_cell(cell: Tensor, pbc: Tensor) -> Tensor:
    """Replaces non-periodic rows by an orthonormal basis of the periodic span's complement."""
    num_graphs = cell.shape[0]
    eye = torch.eye(3, dtype=cell.dtype, device=cell.device).expand(num_graphs, 3, 3)
    periodic_rows = cell * pbc.unsqueeze(-1)
    # Projector onto the orthogonal complement of the span of the periodic rows.
    proj = eye - torch.linalg.pinv(periodic_rows) @ periodic_rows
    # Eigenvalues ascending: the complement's directions (eigenvalue 1) come last.
    _, vecs = torch.linalg.eigh(proj)
    complement = vecs.transpose(1, 2).flip(1)  # rows, complement directions first
    rank = (torch.cumsum((~pbc).long(), dim=1) - 1).clamp(min=0)
    rows = complement.gather(1, rank.unsqueeze(-1).expand(num_graphs, 3, 3))
    return torch.where(pbc.unsqueeze(-1), cell, rows)


def cell_geometry(inputs: Inputs) -> CellGeometry:
    """Builds effective cells and checks periodic lattice vectors for degeneracy.

    Args:
        inputs (Inputs): validated arguments.

    Returns:
        CellGeometry: effective cells and plane heights.

    Raises:
        ValueError: a structure whose periodic lattice vectors are zero or linearly dependent,
            naming the structure, its ``|det|`` and perpendicular heights.
    """
    cell, pbc = inputs.cell, inputs.pbc
    if bool(pbc.all()):
        eff = cell
    else:
        eff = _complement_cell(cell, pbc)
    det = torch.linalg.det(eff).abs()
    cross = torch.linalg.cross(eff.roll(-1, dims=1), eff.roll(-2, dims=1), dim=-1)
    heights = det.unsqueeze(-1) / torch.linalg.vector_norm(cross, dim=-1)
    norms = torch.linalg.vector_norm(eff, dim=-1)
    rel_volume = det / norms.prod(-1)
    bad = pbc.any(-1) & ~(rel_volume > _DEGENERATE)
    if bool(bad.any()):
        g = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"cell of structure {g} is singular in its periodic directions "
            f"(pbc={pbc[g].tolist()}): periodic lattice vectors {cell[g][pbc[g]].tolist()} give "
            f"|det| = {float(det[g]):.3g} of the effective cell and perpendicular heights "
            f"{[round(h, 6) for h in heights[g].masked_fill(~pbc[g], math.inf).tolist()]} Å"
        )
    heights = heights.masked_fill(~pbc, math.inf)
    return CellGeometry(eff=eff, heights=heights)


def wrap_positions(inputs: Inputs, geometry: CellGeometry) -> tuple[Tensor, Tensor, Tensor]:
    """Wraps positions into the cell along periodic directions.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``wrapped`` ``[num_nodes, 3]`` float64 positions,
        ``frac`` ``[num_nodes, 3]`` their fractional coordinates (in ``[0, 1]`` along periodic
        directions), and integer ``offset`` ``[num_nodes, 3]`` with
        ``pos = wrapped + offset @ cell``.
    """
    batch, eff = inputs.batch, geometry.eff
    inv = torch.linalg.inv(eff)
    if eff.shape[0] == 1:
        frac = inputs.pos @ inv[0]
    else:
        frac = torch.einsum("ni,nij->nj", inputs.pos, inv[batch])
    offset = torch.floor(frac) * inputs.pbc[batch]
    if eff.shape[0] == 1:
        wrapped = inputs.pos - offset @ eff[0]
    else:
        wrapped = inputs.pos - torch.einsum("ni,nij->nj", offset, eff[batch])
    return wrapped, frac - offset, offset.long()
