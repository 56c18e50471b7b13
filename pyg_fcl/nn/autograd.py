"""Forces and stress by automatic differentiation.

Models compute the energy from edge vectors recomputed from ``pos`` and ``cell``. For stress, a
symmetric strain ``eps`` (``[num_graphs, 3, 3]``, zero) deforms positions and cell,
``pos' = pos (1 + eps)``, ``cell' = cell (1 + eps)``; then

* forces ``F = -dE/dpos``,
* stress ``sigma = (1/V) dE/d eps`` (ASE sign convention, eV/Å³).

Typical use inside a model::

    geo = apply_strain(data.pos, data.cell, data.batch, data.num_graphs, compute_stress)
    vec = edge_vectors(geo.pos, edge_index, edge_shift, geo.cell, data.batch)
    energy = ...  # [num_graphs], from vec
    forces, stress = forces_and_stress(energy, geo, create_graph=self.training)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["StrainedGeometry", "apply_strain", "forces_and_stress"]


class StrainedGeometry(NamedTuple):
    """Positions and cell to build a model's edge vectors from.

    Attributes:
        leaf (Tensor): ``[num_nodes, 3]`` positions that forces are taken with respect to.
        pos (Tensor): ``[num_nodes, 3]`` strained positions (``leaf`` itself without stress).
        cell (Tensor): ``[num_graphs, 3, 3]`` strained cell.
        strain (Tensor or None): ``[num_graphs, 3, 3]`` zero strain, or ``None``.
        volume (Tensor): ``[num_graphs]`` unstrained cell volume (0 for non-periodic cells).
    """

    leaf: Tensor
    pos: Tensor
    cell: Tensor
    strain: Tensor | None
    volume: Tensor


def apply_strain(
    pos: Tensor, cell: Tensor, batch: Tensor, num_graphs: int, compute_stress: bool
) -> StrainedGeometry:
    """Prepare positions (and a strain) whose gradients give forces (and stress).

    Args:
        pos (Tensor): ``[num_nodes, 3]``; used as is when it already requires grad, else a
            detached copy that requires grad is made (the caller's tensor is not modified).
        cell (Tensor): ``[num_graphs, 3, 3]``, rows are lattice vectors.
        batch (Tensor): ``[num_nodes]`` graph index of each atom.
        num_graphs (int): number of structures.
        compute_stress (bool): whether to attach a strain.

    Returns:
        StrainedGeometry: the tensors to compute edge vectors from.
    """
    leaf = pos if pos.requires_grad else pos.detach().requires_grad_(True)
    volume = torch.linalg.det(cell.detach()).abs()
    if not compute_stress:
        return StrainedGeometry(leaf, leaf, cell, None, volume)
    strain = torch.zeros(num_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
    sym = 0.5 * (strain + strain.transpose(-1, -2))
    pos_strained = leaf + torch.einsum("ni,nij->nj", leaf, sym[batch])
    cell_strained = cell + torch.bmm(cell, sym)
    return StrainedGeometry(leaf, pos_strained, cell_strained, strain, volume)


def forces_and_stress(
    energy: Tensor, geometry: StrainedGeometry, create_graph: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Forces ``-dE/dpos`` and stress ``(1/V) dE/d eps``.

    Args:
        energy (Tensor): ``[num_graphs]`` total energies.
        geometry (StrainedGeometry): what :func:`apply_strain` returned.
        create_graph (bool): keep the graph (training on forces, second-order optimization).

    Returns:
        tuple: forces ``[num_nodes, 3]`` and stress ``[num_graphs, 3, 3]`` (zeros for structures
        with zero cell volume), or ``None`` when no strain was attached.
    """
    inputs = [geometry.leaf] if geometry.strain is None else [geometry.leaf, geometry.strain]
    grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
    forces = -grads[0] if grads[0] is not None else torch.zeros_like(geometry.leaf)
    if geometry.strain is None:
        return forces, None
    virial = grads[1] if grads[1] is not None else torch.zeros_like(geometry.strain)
    volume = geometry.volume
    safe = torch.where(volume > 0, volume, torch.ones_like(volume))
    stress = torch.where((volume > 0)[:, None, None], virial / safe[:, None, None], 0.0)
    return forces, stress
