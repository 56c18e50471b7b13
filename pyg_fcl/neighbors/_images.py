"""Periodic image replication (the halo) for backends without periodic boundaries.

Centres are wrapped into the cell (fractional coordinates in ``[0, 1]``). A neighbour image at
fractional position ``f`` can be within ``r`` of such a centre only if ``-r/h_k < f_k < 1 + r/h_k``
along every periodic direction ``k`` (``h_k``: distance between lattice planes), because the
component of a vector along the reciprocal direction ``k`` is at most its length. The halo holds
exactly the images inside that window, which keeps it small for large cells and complete for
cells shorter than the cutoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._cell import _SLACK, CellGeometry, wrap_positions
from ._validation import Inputs

__all__ = ["Halo", "build_halo"]

# Refuse searches that would need more periodic images than this per structure.
MAX_IMAGES = 10_000_000
# Candidate images per block when filtering the window (bounds memory).
_BLOCK = 1 << 22


@dataclass
class Halo:
    """Wrapped centres and their periodic images.

    Attributes:
        wrapped (Tensor): ``[num_nodes, 3]`` float64 wrapped positions (the centres).
        offset (Tensor): ``[num_nodes, 3]`` long, ``pos = wrapped + offset @ cell``.
        pos (Tensor): ``[num_images, 3]`` float64 image positions.
        atom (Tensor): ``[num_images]`` long, global index of the atom each image copies.
        shift (Tensor): ``[num_images, 3]`` long, lattice shift of the image w.r.t. ``wrapped``.
        batch (Tensor): ``[num_images]`` long, structure of each image (sorted ascending).
        ptr (list[int]): ``num_graphs + 1`` offsets of each structure's images.
    """

    wrapped: Tensor
    offset: Tensor
    pos: Tensor
    atom: Tensor
    shift: Tensor
    batch: Tensor
    ptr: list[int]

    def resolve(self, i: Tensor, image: Tensor) -> tuple[Tensor, Tensor]:
        """Neighbour atom and lattice shift (w.r.t. the original positions) of pairs.

        Args:
            i (Tensor): ``[E]`` centre atoms.
            image (Tensor): ``[E]`` image indices.

        Returns:
            tuple[Tensor, Tensor]: ``j`` ``[E]`` and ``shift`` ``[E, 3]`` with
            ``pos[j] - pos[i] + shift @ cell = image_pos - wrapped[i]``.
        """
        j = self.atom.index_select(0, image)
        shift = (
            self.shift.index_select(0, image)
            - self.offset.index_select(0, j)
            + self.offset.index_select(0, i)
        )
        return j, shift


def _structure_images(
    frac: Tensor, start: int, n_img: list[int], heights: list[float], r: float, eff: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    device = frac.device
    ranges = [torch.arange(-n, n + 1, device=device) for n in n_img]
    shifts = torch.cartesian_prod(*ranges).reshape(-1, 3)
    # Window half-widths beyond [0, 1]; infinite along non-periodic directions (no wrapping).
    bound = torch.tensor(
        [math.inf if math.isinf(h) else r / h * (1 + _SLACK) + _SLACK for h in heights],
        dtype=frac.dtype,
        device=device,
    )
    atoms, shift_rows = [], []
    block = max(1, _BLOCK // max(1, frac.shape[0]))
    for s0 in range(0, shifts.shape[0], block):
        sh = shifts[s0 : s0 + block]
        f = frac.unsqueeze(0) + sh.unsqueeze(1).to(frac.dtype)  # [S, n, 3]
        inside = ((f > -bound) & (f < 1 + bound)).all(-1)
        s_idx, a_idx = inside.nonzero(as_tuple=True)
        atoms.append(a_idx + start)
        shift_rows.append(sh.index_select(0, s_idx))
    atom = torch.cat(atoms)
    shift = torch.cat(shift_rows)
    return atom, shift, shift.to(eff.dtype) @ eff


def build_halo(inputs: Inputs, geometry: CellGeometry, r: float) -> Halo:
    """Replicates each structure's atoms into all periodic images that can lie within ``r``.

    Args:
        inputs (Inputs): validated arguments.
        geometry (CellGeometry): effective cells and heights.
        r (float): search radius.

    Returns:
        Halo: centres and images, structure by structure.

    Raises:
        ValueError: a structure would need more than ``MAX_IMAGES`` lattice shifts.
    """
    wrapped, frac, offset = wrap_positions(inputs, geometry)
    n_images = geometry.num_images(r)
    heights = geometry.heights.tolist()
    pos_l, atom_l, shift_l, batch_l, ptr = [], [], [], [], [0]
    for g in range(inputs.num_graphs):
        a, b = inputs.ptr[g], inputs.ptr[g + 1]
        num_shifts = (2 * n_images[g][0] + 1) * (2 * n_images[g][1] + 1) * (2 * n_images[g][2] + 1)
        if num_shifts > MAX_IMAGES:
            raise ValueError(
                f"structure {g}: cutoff {r:.4g} Å needs {num_shifts} periodic images for "
                f"perpendicular cell heights {heights[g]} Å (limit {MAX_IMAGES})"
            )
        if a == b:
            ptr.append(ptr[-1])
            continue
        atom, shift, lattice = _structure_images(
            frac[a:b], a, n_images[g], heights[g], r, geometry.eff[g]
        )
        pos_l.append(wrapped.index_select(0, atom) + lattice)
        atom_l.append(atom)
        shift_l.append(shift)
        batch_l.append(torch.full_like(atom, g))
        ptr.append(ptr[-1] + atom.shape[0])
    device = inputs.pos.device
    if not pos_l:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Halo(wrapped, offset, wrapped[:0], empty, empty.view(0, 3), empty, ptr)
    return Halo(
        wrapped=wrapped,
        offset=offset,
        pos=torch.cat(pos_l),
        atom=torch.cat(atom_l),
        shift=torch.cat(shift_l),
        batch=torch.cat(batch_l),
        ptr=ptr,
    )
