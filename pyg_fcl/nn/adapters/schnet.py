"""PyG's :class:`~torch_geometric.nn.models.SchNet` as a cutoff-flexible FCL model."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch_geometric.nn.aggr import SumAggregation
from torch_geometric.nn.models import SchNet

from ..envelope import PolynomialEnvelope
from ..fcl_graph import FCLGraph
from ..flexible_cutoff import FlexibleCutoff
from .base import FlexiblePyGModel

__all__ = ["FlexibleSchNet"]

_MAX_Z = 100  # SchNet's atom embedding has 100 rows


class _NodeReadout(nn.Module):
    """Stands in for SchNet's readout aggregation: keeps the per-atom outputs ``[N, 1]``."""

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        return x


class FlexibleSchNet(FlexiblePyGModel):
    """PyG's SchNet on the FCL graph, every continuous-filter message times the envelope.

    The PyG model is used as is: its ``interaction_graph`` is replaced by
    :class:`~pyg_fcl.nn.FCLGraph` (per-atom-pruned edges with periodic images; no
    torch-cluster, no ``max_num_neighbors`` cap), its readout by one that keeps the per-atom
    outputs (``node_energy``), and :class:`~pyg_fcl.nn.FlexibleCutoff` multiplies each
    ``CFConv`` message by ``u(r_ij / edge_cutoff_ij)``. An embedding of each atom's cutoff is
    added to SchNet's atom embedding (``cutoff_embedding=True``), so the model knows its cutoff.

    Args:
        r_max (float): largest cutoff (Å).
        r_min (float, optional): smallest training cutoff (default ``r_max``).
        edge_rule (str): edge rule (DESIGN.md).
        elements (Sequence[int]): atomic numbers the model knows (< 100).
        hidden_channels, num_filters, num_interactions, num_gaussians (int): SchNet sizes.
        backbone_cutoff (float, optional): SchNet's own ``cutoff`` (its Gaussian grid and cosine
            cutoff), default ``r_max``; set it to a pretrained SchNet's value.
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
        num_filters: int = 64,
        num_interactions: int = 3,
        num_gaussians: int = 50,
        backbone_cutoff: float | None = None,
        envelope_p: int = 5,
        cutoff_embedding: bool = True,
        neighbor_backend: str = "auto",
    ) -> None:
        super().__init__(r_max, r_min, edge_rule, elements, neighbor_backend, max_z=_MAX_Z)
        self.backbone_cutoff = self._resolve_backbone_cutoff(backbone_cutoff, "SchNet")
        self.sizes = dict(
            hidden_channels=int(hidden_channels),
            num_filters=int(num_filters),
            num_interactions=int(num_interactions),
            num_gaussians=int(num_gaussians),
        )
        self.envelope_p = int(envelope_p)
        schnet = SchNet(
            **self.sizes,
            cutoff=self.backbone_cutoff,
            interaction_graph=FCLGraph(("edge_index", "edge_length")),
            readout="add",
        )
        schnet.readout = _NodeReadout()
        self.flex = FlexibleCutoff(
            schnet,
            self.r_max,
            envelope=PolynomialEnvelope(self.envelope_p),
            cutoff_embedding="embedding" if cutoff_embedding else None,
        )

    def config(self) -> dict:
        return dict(
            r_max=self.r_max,
            r_min=self.r_min,
            edge_rule=self.edge_rule,
            elements=list(self.elements),
            **self.sizes,
            backbone_cutoff=self.backbone_cutoff,
            envelope_p=self.envelope_p,
            cutoff_embedding=self.flex.cutoff_embedding is not None,
            neighbor_backend=self.neighbor_backend,
        )

    def raw_node_energy(self, z: Tensor, pos: Tensor, batch: Tensor) -> Tensor:
        return self.flex.backbone(z, pos, batch).squeeze(-1)

    @classmethod
    def from_pyg(
        cls,
        schnet: SchNet,
        elements: Sequence[int],
        r_max: float | None = None,
        r_min: float | None = None,
        edge_rule: str = "mean",
        **kwargs,
    ) -> FlexibleSchNet:
        """A FlexibleSchNet with the weights of an existing (e.g. pretrained) PyG SchNet.

        SchNet's ``mean``/``std`` become the energy shift/scale and its ``atomref`` the
        per-element reference energies (:meth:`~pyg_fcl.FCLModel.normalize_energy`).

        Args:
            schnet (SchNet): a PyG SchNet with a sum readout (not a dipole model).
            elements (Sequence[int]): atomic numbers the model will see.
            r_max (float, optional): largest cutoff (default ``schnet.cutoff``, at most that).
            r_min (float, optional), edge_rule (str): FCL settings; further keyword arguments
                go to the constructor (``envelope_p``, ``cutoff_embedding``, ...).
        """
        if (
            schnet.dipole
            or schnet.scale is not None
            or not isinstance(schnet.readout, SumAggregation)
        ):
            raise ValueError(
                "FlexibleSchNet.from_pyg needs an energy SchNet (sum readout, dipole=False, no "
                f"unit scale), got readout={schnet.readout}, dipole={schnet.dipole}, "
                f"scale={schnet.scale}"
            )
        model = cls(
            r_max=schnet.cutoff if r_max is None else r_max,
            r_min=r_min,
            edge_rule=edge_rule,
            elements=elements,
            hidden_channels=schnet.hidden_channels,
            num_filters=schnet.num_filters,
            num_interactions=schnet.num_interactions,
            num_gaussians=schnet.num_gaussians,
            backbone_cutoff=schnet.cutoff,
            **kwargs,
        )
        skip = ("initial_atomref", "atomref.weight", "atomic_mass")
        state = {k: v for k, v in schnet.state_dict().items() if k not in skip}
        model.flex.backbone.load_state_dict(state, strict=True)
        atomref = None
        if schnet.atomref is not None:
            atomref = {z: float(schnet.atomref.weight[z, 0].detach()) for z in model.elements}
        standardized = schnet.mean is not None and schnet.std is not None
        model.set_energy_normalization(
            atomic_energies=atomref,
            scale=float(schnet.std) if standardized else 1.0,
            shift=float(schnet.mean) if standardized else 0.0,
        )
        return model.to(next(schnet.parameters()).dtype)
