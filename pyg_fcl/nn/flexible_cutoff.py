"""Make an existing PyG message-passing model cutoff-flexible without touching its code.

:class:`FlexibleCutoff` uses two PyG extension points of the backbone it wraps:

* **the graph**: the backbone's own graph-building module (``SchNet.interaction_graph``,
  ``ViSNet.representation_model.distance``, ...) is replaced by :class:`FCLGraph`, which returns
  the pyg-fcl graph: pruned to the per-atom cutoffs, with periodic images, and edge vectors
  ``pos[j] - pos[i] + edge_shift @ cell`` recomputed from the positions (forces, stress);
* **the messages**: every :class:`~torch_geometric.nn.conv.MessagePassing` layer gets a message
  forward hook that multiplies the message on edge ``j -> i`` by the envelope
  ``u(r_ij / edge_cutoff_ij)``, so energies stay smooth when edges appear or vanish, and a
  propagate pre-hook that checks the layer passes exactly the FCL edges (same number, same
  order), so the envelopes line up with the messages.

What cannot be handled raises instead of silently ignoring the cutoffs: a layer that adds
self-loops inside itself (``add_self_loops=True``, or any other change of the edge set), a fused
``message_and_aggregate`` (sparse adjacency) that skips the message hook, a non-sum
aggregation (a mean or max is not continuous when an edge appears), a reversed ``flow``, a
module that builds its own capped radius graph (``max_num_neighbors``), and a forward in which
no layer propagated any message.

The hooks are registered once, when the wrapper is built, and do nothing unless a graph is
active in the calling thread (:meth:`FlexibleCutoff.activate`, a context manager entered for
every forward). The backbone called on its own therefore behaves exactly as before; state lives
on a per-thread stack, so concurrent forwards in several threads and nested forwards do not see
each other's graphs; :meth:`FlexibleCutoff.remove_hooks` detaches everything. Hooks are skipped
by PyG under ``torch.compile`` / TorchScript, where this wrapper raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .active_graph import ActiveGraph, LocalStack
from .cutoff_embedding import CutoffEmbedding
from .envelope import PolynomialEnvelope
from .fcl_graph import GRAPH_FIELDS, FCLGraph
from .layer_checks import check_graph_builders, check_layer

# FCLGraph, CutoffEmbedding and GRAPH_FIELDS live in their own modules; they stay importable
# from here.
__all__ = ["FlexibleCutoff", "FCLGraph", "CutoffEmbedding", "GRAPH_FIELDS"]


class FlexibleCutoff(nn.Module):
    """Wraps a PyG message-passing backbone so it runs on the per-atom-pruned FCL graph.

    The backbone's graph-building module must already be an :class:`FCLGraph` (the adapters in
    :mod:`pyg_fcl.nn.adapters` do this); every message of every ``MessagePassing`` layer is
    multiplied by ``u(r_ij / edge_cutoff_ij)``. Optionally a :class:`CutoffEmbedding` of each
    atom's cutoff is added to the output of the backbone's node-embedding module.

    Args:
        backbone (nn.Module): the PyG model.
        r_max (float): largest cutoff (Å).
        envelope (nn.Module, optional): ``envelope(r [E], r_c [E]) -> [E]``, 0 beyond ``r_c``
            (default :class:`~pyg_fcl.nn.PolynomialEnvelope` with ``p = 5``).
        cutoff_embedding (str, optional): name of the backbone submodule (e.g. ``"embedding"``)
            whose output ``[num_nodes, F]`` gets the cutoff embedding added; ``None``: none.
        cutoff_embedding_dim (int, optional): ``F``; read from an ``nn.Embedding`` if omitted.

    Raises:
        ValueError: the backbone has no ``MessagePassing`` layer, or one it cannot handle (see
            the module docstring).
    """

    def __init__(
        self,
        backbone: nn.Module,
        r_max: float,
        envelope: nn.Module | None = None,
        cutoff_embedding: str | None = None,
        cutoff_embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.r_max = float(r_max)
        self.envelope = PolynomialEnvelope(5) if envelope is None else envelope
        self.embedding_name = cutoff_embedding
        self.cutoff_embedding: CutoffEmbedding | None = None
        self._active = LocalStack()
        if cutoff_embedding is not None:
            target = backbone.get_submodule(cutoff_embedding)
            dim = cutoff_embedding_dim or getattr(target, "embedding_dim", None)
            if dim is None:
                raise ValueError(
                    f"cannot tell the output size of {cutoff_embedding!r} "
                    f"({type(target).__name__}); pass cutoff_embedding_dim"
                )
            self.cutoff_embedding = CutoffEmbedding(self.r_max, int(dim))
            target.register_forward_hook(self._embedding_hook)
        self._install_hooks()

    # ------------------------------------------------------------------ hooks
    def _owns(self, hooks: dict) -> bool:
        return any(getattr(h, "__self__", None) is self for h in hooks.values())

    def _install_hooks(self) -> None:
        check_graph_builders(self.backbone)
        layers = 0
        for name, module in self.backbone.named_modules():
            if not isinstance(module, MessagePassing):
                continue
            check_layer(name, module)
            layers += 1
            if not self._owns(module._message_forward_hooks):
                module.register_propagate_forward_pre_hook(self._propagate_pre_hook)
                module.register_message_forward_hook(self._message_hook)
                module.register_propagate_forward_hook(self._propagate_hook)
                module.register_message_and_aggregate_forward_pre_hook(self._fused_hook)
        if layers == 0:
            raise ValueError(
                f"{type(self.backbone).__name__} has no torch_geometric MessagePassing layer: "
                "FlexibleCutoff has no messages to multiply by the envelope"
            )

    def remove_hooks(self) -> None:
        """Detach every hook this wrapper registered on the backbone (the wrapper is then dead)."""
        for module in self.backbone.modules():
            for attr in (
                "_propagate_forward_pre_hooks",
                "_message_forward_hooks",
                "_propagate_forward_hooks",
                "_message_and_aggregate_forward_pre_hooks",
                "_forward_hooks",
            ):
                hooks = getattr(module, attr, None)
                if hooks is None:
                    continue
                for key in [k for k, h in hooks.items() if getattr(h, "__self__", None) is self]:
                    del hooks[key]

    def _mine(self) -> ActiveGraph | None:
        return self._active.top()

    def _layer_name(self, module: nn.Module) -> str:
        for name, m in self.backbone.named_modules():
            if m is module:
                return f"{name} ({type(module).__name__})"
        return type(module).__name__

    def _propagate_pre_hook(self, module: MessagePassing, inputs: tuple) -> None:
        graph = self._mine()
        if graph is None:
            return None
        edge_index = inputs[0]
        envelope = graph.envelope_for(edge_index)
        if envelope is None:
            got = list(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
            raise ValueError(
                f"layer {self._layer_name(module)} propagates over edges {got} that are not the "
                f"FCL graph's {list(graph.edge_index.shape)} (self-loops added or edges dropped "
                "inside the layer, a sparse adjacency, or a graph the model built itself): the "
                "envelopes cannot be lined up with its messages"
            )
        graph.expecting[id(module)] = [envelope, 0]
        graph.num_propagate += 1
        return None

    def _message_hook(self, module: MessagePassing, inputs: tuple, out):
        graph = self._mine()
        if graph is None:
            return None
        if id(module) not in graph.expecting:
            raise RuntimeError(
                f"layer {self._layer_name(module)} computed messages outside "
                "propagate(); FlexibleCutoff cannot check their edges"
            )
        expected = graph.expecting[id(module)]
        expected[1] += 1
        env = expected[0]
        num_edges = env.numel()

        def scale(t: Tensor) -> Tensor:
            axis = module.node_dim % t.dim()
            if t.size(axis) != num_edges:
                raise ValueError(
                    f"layer {self._layer_name(module)} made {t.size(axis)} messages along dim "
                    f"{axis} for {num_edges} edges: envelopes cannot be applied"
                )
            shape = [1] * t.dim()
            shape[axis] = num_edges
            return t * env.to(t.dtype).view(shape)

        if isinstance(out, Tensor):
            return scale(out)
        if isinstance(out, (tuple, list)) and all(isinstance(t, Tensor) for t in out):
            return type(out)(scale(t) for t in out)
        raise ValueError(
            f"layer {self._layer_name(module)} returns messages of type {type(out).__name__}; "
            "FlexibleCutoff handles a tensor or a tuple of tensors"
        )

    def _propagate_hook(self, module: MessagePassing, inputs: tuple, out) -> None:
        graph = self._mine()
        if graph is None:
            return None
        if graph.expecting.pop(id(module), [None, 0])[1] == 0:
            raise ValueError(
                f"layer {self._layer_name(module)} aggregated without calling message() (fused "
                "message_and_aggregate or sparse adjacency): the envelopes were not applied"
            )
        return None

    def _fused_hook(self, module: MessagePassing, inputs: tuple) -> None:
        if self._mine() is not None:
            raise ValueError(
                f"layer {self._layer_name(module)} runs a fused message_and_aggregate, which "
                "skips message hooks: the envelopes cannot be applied; pass a dense edge_index"
            )

    def _embedding_hook(self, module: nn.Module, inputs: tuple, out: Tensor):
        graph = self._mine()
        if graph is None or self.cutoff_embedding is None:
            return None
        if graph.cutoff is None:
            raise ValueError("FlexibleCutoff has a cutoff embedding: pass per-atom `cutoff`")
        if not isinstance(out, Tensor) or out.dim() != 2 or out.size(0) != graph.num_nodes:
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"cutoff embedding target {self.embedding_name!r} returned {shape}, expected "
                f"[num_nodes={graph.num_nodes}, F]"
            )
        return out + self.cutoff_embedding(graph.cutoff).to(out.dtype)

    # ------------------------------------------------------------------ running
    @contextmanager
    def activate(
        self,
        edge_index: Tensor,
        edge_vector: Tensor,
        edge_cutoff: Tensor,
        cutoff: Tensor | None = None,
        num_nodes: int | None = None,
        envelope: Tensor | None = None,
    ) -> Iterator[ActiveGraph]:
        """Run the backbone on this FCL graph inside the ``with`` block.

        Args:
            edge_index (Tensor): ``[2, E]``, ``[0] = j`` neighbour, ``[1] = i`` centre.
            edge_vector (Tensor): ``[E, 3]`` ``pos[j] - pos[i] + edge_shift @ cell`` (from the
                positions that forces are taken with respect to).
            edge_cutoff (Tensor): ``[E]`` edge cutoffs (differentiable in the per-atom ones).
            cutoff (Tensor, optional): ``[num_nodes]`` per-atom cutoffs (cutoff embedding).
            num_nodes (int, optional): number of atoms (default ``cutoff.numel()``).
            envelope (Tensor, optional): ``[E]`` envelopes already computed by the caller
                (default: this wrapper's envelope of the lengths and edge cutoffs).

        Yields:
            ActiveGraph: the graph the hooks use.
        """
        if torch.jit.is_scripting() or torch.compiler.is_compiling():
            raise RuntimeError(
                "FlexibleCutoff relies on PyG hooks, skipped under TorchScript and torch.compile"
            )
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must be [2, E], got {list(edge_index.shape)}")
        num_edges = edge_index.size(1)
        if edge_vector.shape != (num_edges, 3) or edge_cutoff.shape != (num_edges,):
            raise ValueError(
                f"edge_vector {list(edge_vector.shape)} and edge_cutoff "
                f"{list(edge_cutoff.shape)} must be [E, 3] and [E] for E = {num_edges} edges"
            )
        if num_nodes is None:
            if cutoff is None:
                raise ValueError("pass num_nodes or the per-atom cutoff")
            num_nodes = cutoff.numel()
        self._install_hooks()  # layers added to the backbone after wrapping
        length = edge_vector.norm(dim=-1)
        graph = ActiveGraph(
            edge_index=edge_index,
            edge_vector=edge_vector,
            edge_length=length,
            edge_cutoff=edge_cutoff,
            envelope=self.envelope(length, edge_cutoff) if envelope is None else envelope,
            cutoff=cutoff,
            num_nodes=int(num_nodes),
        )
        providers = [m for m in self.backbone.modules() if isinstance(m, FCLGraph)]
        self._active.items.append(graph)
        for p in providers:
            p._active.items.append(graph)
        try:
            yield graph
        finally:
            for p in providers:
                p._active.items.pop()
            self._active.items.pop()
        if graph.num_propagate == 0:
            raise RuntimeError(
                f"no MessagePassing layer of {type(self.backbone).__name__} propagated messages "
                "in this forward: the envelopes were never applied (does it aggregate by hand?)"
            )

    def active_graph(self) -> ActiveGraph | None:
        """The graph of the forward running in this thread, or ``None``."""
        return self._mine()

    def forward(
        self,
        *args,
        edge_index: Tensor,
        edge_vector: Tensor,
        edge_cutoff: Tensor,
        cutoff: Tensor | None = None,
        num_nodes: int | None = None,
        **kwargs,
    ):
        """``backbone(*args, **kwargs)`` run on the given FCL graph (see :meth:`activate`)."""
        with self.activate(edge_index, edge_vector, edge_cutoff, cutoff, num_nodes):
            return self.backbone(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, cutoff_embedding={self.embedding_name!r}"
