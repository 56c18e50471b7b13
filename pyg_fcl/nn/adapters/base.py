"""Base class of FCL models built around a PyG backbone wrapped in :class:`FlexibleCutoff`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ...model import FCLModel
from ...neighbors import edge_vectors
from ..autograd import apply_strain, forces_and_stress
from ..flexible_cutoff import FlexibleCutoff

__all__ = ["FlexiblePyGModel"]


class FlexiblePyGModel(FCLModel):
    """An :class:`~pyg_fcl.FCLModel` whose energy comes from a wrapped PyG backbone.

    Subclasses build the backbone in ``__init__``, replace its graph-building module with
    :class:`~pyg_fcl.nn.FCLGraph`, store ``self.flex = FlexibleCutoff(backbone, r_max, ...)``,
    and implement :meth:`raw_node_energy` (the backbone's per-atom output) and
    :meth:`~pyg_fcl.FCLModel.config`. This class does the rest of the model interface: the
    flexible graph, edge vectors with periodic images from the (strained) positions, the edge
    cutoffs, energy normalisation, and forces and stress by autograd.

    Args:
        r_max, r_min, edge_rule, elements, neighbor_backend: see :class:`~pyg_fcl.FCLModel`.
        max_z (int): the backbone's embedding size; every element must be below it.
    """

    flex: FlexibleCutoff

    def _resolve_backbone_cutoff(self, backbone_cutoff: float | None, backbone: str) -> float:
        """The backbone's own cutoff (default ``r_max``); it must not cut FCL edges."""
        value = float(self.r_max if backbone_cutoff is None else backbone_cutoff)
        if value < self.r_max:
            raise ValueError(
                f"backbone_cutoff={value} < r_max={self.r_max}: {backbone}'s cosine "
                "cutoff would cut edges the FCL graph keeps"
            )
        return value

    def __init__(
        self,
        r_max: float,
        r_min: float | None = None,
        edge_rule: str = "mean",
        elements: Sequence[int] = (),
        neighbor_backend: str = "auto",
        max_z: int = 100,
    ) -> None:
        super().__init__(r_max, r_min, edge_rule, elements, neighbor_backend)
        too_heavy = [z for z in self.elements if z >= max_z]
        if too_heavy:
            raise ValueError(
                f"{type(self).__name__}: elements {too_heavy} do not fit the backbone's atom "
                f"embedding (atomic numbers < {max_z})"
            )
        self.neighbor_backend = neighbor_backend

    def raw_node_energy(self, z: Tensor, pos: Tensor, batch: Tensor) -> Tensor:
        """The backbone's per-atom output ``[num_nodes]``, run inside ``self.flex.activate``.

        Args:
            z (Tensor): ``[num_nodes]`` atomic numbers.
            pos (Tensor): ``[num_nodes, 3]`` positions (the graph comes from the FCL graph).
            batch (Tensor): ``[num_nodes]`` structure index of each atom.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement raw_node_energy()")

    def forward(
        self, data: Data | Batch, compute_stress: bool = False, prune: bool = True
    ) -> dict[str, Tensor]:
        """Energy ``[num_graphs]``, node_energy ``[num_nodes]``, forces ``[num_nodes, 3]`` and,
        with ``compute_stress``, stress ``[num_graphs, 3, 3]`` (eV, eV/Å, eV/Å³).

        Args:
            data: ``Data`` or ``Batch`` with ``z``, ``pos``, optional ``cell``, ``pbc``,
                ``cutoff`` (``[num_nodes]``, may require grad) and a cached ``r_max`` graph.
            compute_stress (bool): also return the stress.
            prune (bool): prune to the per-atom cutoffs (``False``: keep every ``r_max`` edge
                and let the envelope switch edges off; same result, more work).
        """
        with torch.enable_grad():
            data = self.prepare(data, prune=prune)
            cell = data.cell.reshape(-1, 3, 3).to(data.pos.dtype)
            num_graphs = cell.size(0)
            geo = apply_strain(data.pos, cell, data.batch, num_graphs, compute_stress)
            vec = edge_vectors(geo.pos, data.edge_index, data.edge_shift, geo.cell, data.batch)
            edge_cutoff = self.edge_cutoff(data).to(vec.dtype)
            with self.flex.activate(data.edge_index, vec, edge_cutoff, data.cutoff.to(vec.dtype)):
                raw = self.raw_node_energy(data.z, geo.pos, data.batch)
            node_energy = self.normalize_energy(raw, data.z)
            energy = torch.zeros(num_graphs, dtype=node_energy.dtype, device=node_energy.device)
            energy = energy.index_add(0, data.batch, node_energy)
            forces, stress = forces_and_stress(energy, geo, create_graph=self.training)
        out = {"energy": energy, "node_energy": node_energy, "forces": forces}
        if stress is not None:
            out["stress"] = stress
        return out
