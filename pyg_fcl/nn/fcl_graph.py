""":class:`FCLGraph`, the module that replaces a PyG backbone's own graph builder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .active_graph import LocalStack

__all__ = ["FCLGraph", "GRAPH_FIELDS"]

#: What :class:`FCLGraph` can return, in the order a backbone asks for.
GRAPH_FIELDS = (
    "edge_index",  # [2, E] long, [0] = j neighbour, [1] = i centre
    "edge_length",  # [E] |vec_ij|
    "edge_vector",  # [E, 3] vec_ij = pos[j] - pos[i] + shift @ cell
    "edge_unit_vector",  # [E, 3] vec_ij / |vec_ij|
    "edge_cutoff",  # [E] edge cutoffs
    "envelope",  # [E] u(r_ij / edge_cutoff_ij)
)


class FCLGraph(nn.Module):
    """Drop-in replacement for a backbone's graph-building module.

    Its inputs (positions, batch, ...) are ignored: it returns the FCL graph of the forward pass
    that :class:`~pyg_fcl.nn.FlexibleCutoff` is running, built from
    ``pos[j] - pos[i] + edge_shift @ cell`` (so periodic images and autograd forces/stress are
    right).

    Args:
        returns (Sequence[str]): what to return, in order, from :data:`GRAPH_FIELDS`; e.g.
            ``("edge_index", "edge_length")`` for PyG's ``SchNet.interaction_graph``.
        self_loops (bool): append one self-loop ``(i, i)`` per atom after the FCL edges (length
            0, zero vector, envelope 1), for backbones built with self-loops in their graph
            (PyG's ViSNet). An atom's periodic images are ordinary edges either way.
    """

    def __init__(
        self, returns: Sequence[str] = ("edge_index", "edge_length"), self_loops: bool = False
    ) -> None:
        super().__init__()
        returns = tuple(returns)
        bad = [r for r in returns if r not in GRAPH_FIELDS]
        if not returns or bad:
            raise ValueError(f"FCLGraph: returns must be names from {GRAPH_FIELDS}, got {returns}")
        self.returns = returns
        self.self_loops = bool(self_loops)
        self._active = LocalStack()

    def forward(self, *args, **kwargs) -> Tensor | tuple[Tensor, ...]:
        graph = self._active.top()
        if graph is None:
            raise RuntimeError(
                "FCLGraph was called outside a FlexibleCutoff forward: run the backbone through "
                "its FlexibleCutoff wrapper (or inside FlexibleCutoff.activate(...))"
            )
        fields = {
            "edge_index": graph.edge_index,
            "edge_length": graph.edge_length,
            "edge_vector": graph.edge_vector,
            "edge_unit_vector": graph.edge_vector / graph.edge_length.unsqueeze(-1),
            "edge_cutoff": graph.edge_cutoff,
            "envelope": graph.envelope,
        }
        if self.self_loops:
            n = graph.num_nodes
            loops = torch.arange(n, device=graph.edge_index.device)
            length = graph.edge_length
            node_cutoff = (
                graph.cutoff if graph.cutoff is not None else length.new_full((n,), math.inf)
            )
            extra = {
                "edge_index": torch.stack([loops, loops]),
                "edge_length": length.new_zeros(n),
                "edge_vector": length.new_zeros(n, 3),
                "edge_unit_vector": length.new_zeros(n, 3),
                "edge_cutoff": node_cutoff.to(length.dtype),
                "envelope": graph.envelope.new_ones(n),
            }
            fields = {
                k: torch.cat([v, extra[k]], dim=-1 if k == "edge_index" else 0)
                for k, v in fields.items()
            }
            graph.add_alias(fields["edge_index"], fields["envelope"])
        out = tuple(
            fields[name] if name == "edge_index" else fields[name].clone()  # may be edited
            for name in self.returns
        )
        return out[0] if len(out) == 1 else out

    def extra_repr(self) -> str:
        return f"returns={self.returns}, self_loops={self.self_loops}"
