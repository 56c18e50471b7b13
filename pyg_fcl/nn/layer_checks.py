"""Checks that a backbone's layers and graph builders can run on the FCL graph.

:class:`~pyg_fcl.nn.FlexibleCutoff` runs them when it wraps a backbone (and again before each
forward, for layers added later); what cannot be handled raises instead of silently ignoring the
per-atom cutoffs.
"""

from __future__ import annotations

from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import SumAggregation

from .fcl_graph import FCLGraph

__all__ = ["check_layer", "check_graph_builders"]

_SUM_AGGRS = ("add", "sum")


def check_layer(name: str, module: MessagePassing) -> None:
    """Raise for a message-passing layer whose messages cannot be scaled by the envelopes.

    Args:
        name (str): the layer's name in the backbone (``""`` for the root).
        module (MessagePassing): the layer.

    Raises:
        ValueError: it adds self-loops inside itself, uses a reversed ``flow``, or aggregates
            with anything but a sum.
    """
    where = f"layer {name or '<root>'} ({type(module).__name__})"
    if getattr(module, "add_self_loops", False) is True:
        raise ValueError(
            f"{where} adds self-loops inside the layer (add_self_loops=True): its messages no "
            "longer line up with the FCL edges, so envelopes cannot be applied; build it with "
            "add_self_loops=False"
        )
    if module.flow != "source_to_target":
        raise ValueError(
            f"{where} uses flow={module.flow!r}; FlexibleCutoff needs the default "
            "'source_to_target' (messages from edge_index[0] = j to edge_index[1] = i)"
        )
    aggr = module.aggr
    if not (isinstance(aggr, SumAggregation) or (isinstance(aggr, str) and aggr in _SUM_AGGRS)):
        raise ValueError(
            f"{where} aggregates with aggr={module.aggr!r}: only a sum stays continuous when an "
            "edge's message fades out with the envelope (a mean or max jumps when edges appear)"
        )


def check_graph_builders(backbone: nn.Module) -> None:
    """Raise for a module with a ``max_num_neighbors`` cap that still builds its own graph.

    Args:
        backbone (nn.Module): the model to search.

    Raises:
        ValueError: naming the innermost such module that has no :class:`FCLGraph` inside.
    """
    offenders = []
    for name, module in backbone.named_modules():
        if getattr(module, "max_num_neighbors", None) is None or isinstance(module, FCLGraph):
            continue
        if any(isinstance(m, FCLGraph) for m in module.modules()):
            continue  # its graph-building submodule was replaced
        offenders.append((name, module))
    for name, module in offenders:
        inner = [m for _, m in offenders if m is not module and m in set(module.modules())]
        if inner:
            continue  # report the innermost graph builder
        raise ValueError(
            f"module {name or '<root>'} ({type(module).__name__}) builds its own radius graph "
            f"(max_num_neighbors={module.max_num_neighbors}, which silently drops neighbours and "
            "ignores per-atom cutoffs and periodic images): replace it with pyg_fcl.nn.FCLGraph "
            "(see pyg_fcl.nn.adapters), or use a model whose graph can be replaced"
        )
