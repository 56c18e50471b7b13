"""Base class of FCL models built around a PyG backbone wrapped in :class:`FlexibleCutoff`."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ...graph import ModelGraph
from ...model import FCLModel
from ..flexible_cutoff import FlexibleCutoff

__all__ = ["FlexiblePyGModel"]


class FlexiblePyGModel(FCLModel):
    """An :class:`~pyg_fcl.FCLModel` whose energy comes from a wrapped PyG backbone.

    Subclasses build the backbone in ``__init__``, replace its graph-building module with
    :class:`~pyg_fcl.nn.FCLGraph`, store ``self.flex = FlexibleCutoff(backbone, r_max, ...)``,
    and implement :meth:`raw_node_energy` (the backbone's per-atom output) and
    :meth:`~pyg_fcl.FCLModel.config`. This class turns that into the template's
    :meth:`~pyg_fcl.FCLModel.node_energy`; :class:`~pyg_fcl.FCLModel` does the rest (graph,
    edge vectors, envelope, normalisation, forces and stress).

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
        self._modules.pop("envelope", None)  # the envelope is the wrapper's (property below)
        too_heavy = [z for z in self.elements if z >= max_z]
        if too_heavy:
            raise ValueError(
                f"{type(self).__name__}: elements {too_heavy} do not fit the backbone's atom "
                f"embedding (atomic numbers < {max_z})"
            )
        self.neighbor_backend = neighbor_backend

    @property
    def envelope(self):
        """The envelope of the :class:`FlexibleCutoff` wrapper (one for the graph and hooks)."""
        return self.flex.envelope

    def raw_node_energy(self, z: Tensor, pos: Tensor, batch: Tensor) -> Tensor:
        """The backbone's per-atom output ``[num_nodes]``, run inside ``self.flex.activate``.

        Args:
            z (Tensor): ``[num_nodes]`` atomic numbers.
            pos (Tensor): ``[num_nodes, 3]`` positions (the graph comes from the FCL graph).
            batch (Tensor): ``[num_nodes]`` structure index of each atom.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement raw_node_energy()")

    def node_energy(self, graph: ModelGraph) -> Tensor:
        """The backbone's per-atom output ``[num_nodes]``, run on the FCL graph.

        The backbone's graph module (:class:`~pyg_fcl.nn.FCLGraph`) hands it ``graph``'s edges
        and vectors, and every message is multiplied by ``graph.envelope``.
        """
        with self.flex.activate(
            graph.edge_index,
            graph.edge_vec,
            graph.edge_cutoff,
            graph.cutoff.to(graph.edge_vec.dtype),
            envelope=graph.envelope,
        ):
            return self.raw_node_energy(graph.z, graph.pos, graph.batch)
