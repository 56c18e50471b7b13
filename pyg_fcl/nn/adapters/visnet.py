"""PyG's :class:`~torch_geometric.nn.models.ViSNet` as a cutoff-flexible FCL model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.nn.models import ViSNet

from ..envelope import PolynomialEnvelope
from ..fcl_graph import FCLGraph
from ..flexible_cutoff import FlexibleCutoff
from .base import FlexiblePyGModel

__all__ = ["FlexibleViSNet"]


class FlexibleViSNet(FlexiblePyGModel):
    """PyG's ViSNet (equivariant vector-scalar message passing) on the FCL graph.

    The PyG model is used as is: ``representation_model.distance`` is replaced by
    :class:`~pyg_fcl.nn.FCLGraph`, which returns the per-atom-pruned edges with periodic images,
    their lengths and unit vectors ``(pos[j] - pos[i] + shift @ cell) / r_ij``, plus one
    self-loop per atom as PyG's own ``Distance`` module adds (no torch-cluster, no
    ``max_num_neighbors`` cap), and :class:`~pyg_fcl.nn.FlexibleCutoff`
    multiplies the messages of the neighbour embedding and of every ViS_MP layer (scalar and
    vector parts) by ``u(r_ij / edge_cutoff_ij)`` (1 on the self-loops). An embedding of each
    atom's cutoff is added to the atom embedding (``cutoff_embedding=True``). ``node_energy``
    is ViSNet's per-atom output before its sum.

    Periodic images of an atom itself (edges with ``i == j`` and a non-zero shift, present when
    the cell is shorter than ``r_max``) are real neighbours, but PyG's ``NeighborEmbedding``
    drops every ``i == j`` edge as a self-loop. A pre-hook on that layer hands such edges
    ghost copies of the atom as sources (removed again afterwards), so the layer sees every FCL
    edge and a supercell gets the same energy per atom as its unit cell.

    Args:
        r_max (float): largest cutoff (Å).
        r_min (float, optional): smallest training cutoff (default ``r_max``).
        edge_rule (str): edge rule (DESIGN.md).
        elements (Sequence[int]): atomic numbers the model knows (< ``max_z``).
        hidden_channels, num_layers, num_heads, num_rbf, lmax (int): ViSNet sizes
            (``hidden_channels`` divisible by ``num_heads``; ``lmax`` 1 or 2).
        vecnorm_type (str, optional), trainable_vecnorm, trainable_rbf, vertex (bool): ViSNet
            options.
        max_z (int): ViSNet's atom embedding size.
        backbone_cutoff (float, optional): ViSNet's own ``cutoff`` (radial basis and cosine
            cutoff), default ``r_max``.
        envelope_p (int): order of the polynomial envelope.
        cutoff_embedding (bool): add a cutoff embedding to the atom embedding.
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
    """

    def __init__(
        self,
        r_max: float = 5.0,
        r_min: float | None = None,
        edge_rule: str = "mean",
        elements: Sequence[int] = (),
        hidden_channels: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
        num_rbf: int = 16,
        lmax: int = 1,
        vecnorm_type: str | None = None,
        trainable_vecnorm: bool = False,
        trainable_rbf: bool = False,
        vertex: bool = False,
        max_z: int = 100,
        backbone_cutoff: float | None = None,
        envelope_p: int = 5,
        cutoff_embedding: bool = True,
        neighbor_backend: str = "auto",
    ) -> None:
        super().__init__(r_max, r_min, edge_rule, elements, neighbor_backend, max_z=max_z)
        self.backbone_cutoff = self._resolve_backbone_cutoff(backbone_cutoff, "ViSNet")
        self.options = dict(
            hidden_channels=int(hidden_channels),
            num_layers=int(num_layers),
            num_heads=int(num_heads),
            num_rbf=int(num_rbf),
            lmax=int(lmax),
            vecnorm_type=vecnorm_type,
            trainable_vecnorm=bool(trainable_vecnorm),
            trainable_rbf=bool(trainable_rbf),
            vertex=bool(vertex),
            max_z=int(max_z),
        )
        self.envelope_p = int(envelope_p)
        visnet = ViSNet(**self.options, cutoff=self.backbone_cutoff, reduce_op="sum")
        rep = visnet.representation_model
        rep.distance = FCLGraph(("edge_index", "edge_length", "edge_unit_vector"), self_loops=True)
        self.flex = FlexibleCutoff(
            visnet,
            self.r_max,
            envelope=PolynomialEnvelope(self.envelope_p),
            cutoff_embedding="representation_model.embedding" if cutoff_embedding else None,
        )
        rep.neighbor_embedding.register_forward_pre_hook(self._ghost_images)
        rep.neighbor_embedding.register_forward_hook(self._drop_ghosts)

    def config(self) -> dict:
        return dict(
            r_max=self.r_max,
            r_min=self.r_min,
            edge_rule=self.edge_rule,
            elements=list(self.elements),
            **self.options,
            backbone_cutoff=self.backbone_cutoff,
            envelope_p=self.envelope_p,
            cutoff_embedding=self.flex.cutoff_embedding is not None,
            neighbor_backend=self.neighbor_backend,
        )

    def raw_node_energy(self, z: Tensor, pos: Tensor, batch: Tensor) -> Tensor:
        visnet = self.flex.backbone
        x, vec = visnet.representation_model(z, pos, batch)
        x = visnet.output_model.pre_reduce(x, vec) * visnet.std
        if visnet.prior_model is not None:
            x = visnet.prior_model(x, z)
        return x.squeeze(-1)

    @classmethod
    def from_pyg(
        cls,
        visnet: ViSNet,
        elements: Sequence[int],
        r_max: float | None = None,
        r_min: float | None = None,
        edge_rule: str = "mean",
        **kwargs,
    ) -> FlexibleViSNet:
        """A FlexibleViSNet with the weights of an existing (e.g. pretrained) PyG ViSNet.

        ViSNet's ``std`` and ``prior_model`` (atom references) are kept in the backbone; its
        per-structure ``mean`` must be 0 (a constant per structure is not an energy per atom).

        Args:
            visnet (ViSNet): a PyG ViSNet with ``reduce_op="sum"``.
            elements (Sequence[int]): atomic numbers the model will see.
            r_max (float, optional): largest cutoff (default and at most the ViSNet's cutoff).
            r_min (float, optional), edge_rule (str): FCL settings; further keyword arguments
                go to the constructor (``envelope_p``, ``cutoff_embedding``, ...).
        """
        if visnet.reduce_op != "sum" or float(visnet.mean) != 0.0:
            raise ValueError(
                "FlexibleViSNet.from_pyg needs an energy ViSNet (reduce_op='sum', mean=0), got "
                f"reduce_op={visnet.reduce_op!r}, mean={float(visnet.mean)}"
            )
        rep = visnet.representation_model
        options = {
            key: getattr(rep, key)
            for key in (
                "hidden_channels",
                "num_layers",
                "num_heads",
                "num_rbf",
                "lmax",
                "vecnorm_type",
                "trainable_vecnorm",
                "trainable_rbf",
                "max_z",
            )
        }
        options["vertex"] = type(rep.vis_mp_layers[0]).__name__ == "ViS_MP_Vertex"
        model = cls(
            r_max=rep.cutoff if r_max is None else r_max,
            r_min=r_min,
            edge_rule=edge_rule,
            elements=elements,
            backbone_cutoff=rep.cutoff,
            **options,
            **kwargs,
        )
        model.flex.backbone.load_state_dict(visnet.state_dict(), strict=True)
        return model.to(next(visnet.parameters()).dtype)

    # ------------------------------------------------------------------ periodic self-images
    def _ghost_images(self, module, args: tuple):
        """NeighborEmbedding pre-hook: route an atom's own periodic images through ghost copies.

        The layer drops every ``i == j`` edge; true self-loops (length 0) are meant to go, but
        periodic images (length > 0) are neighbours: they get a ghost copy of the atom as
        source, so the layer keeps them (and their envelopes line up again).
        """
        graph = self.flex.active_graph()
        if graph is None:
            return None
        if len(args) != 5:
            raise ValueError(
                "ViSNet's NeighborEmbedding is expected to be called with "
                f"(z, x, edge_index, edge_weight, edge_attr), got {len(args)} args"
            )
        z, x, edge_index, edge_weight, edge_attr = args
        envelope = graph.envelope_for(edge_index)
        if envelope is None:
            return None  # not the FCL graph: the propagate check reports it
        images = (edge_index[0] == edge_index[1]) & (edge_weight > 0)
        sources = edge_index[0, images]
        remapped = edge_index.clone()
        remapped[0, images] = torch.arange(sources.numel(), device=z.device) + z.numel()
        kept = remapped[0] != remapped[1]  # what the layer will propagate over
        graph.add_alias(remapped[:, kept], envelope[kept])
        if sources.numel() == 0:
            return None
        z = torch.cat([z, z[sources]])
        x = torch.cat([x, x[sources]])
        return z, x, remapped, edge_weight, edge_attr

    def _drop_ghosts(self, module, args: tuple, out: Tensor):
        graph = self.flex.active_graph()
        if graph is None or out.size(0) == graph.num_nodes:
            return None
        return out[: graph.num_nodes]
