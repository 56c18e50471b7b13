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

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import SumAggregation

from .envelope import PolynomialEnvelope

__all__ = ["FlexibleCutoff", "FCLGraph", "CutoffEmbedding", "GRAPH_FIELDS"]

#: What :class:`FCLGraph` can return, in the order a backbone asks for.
GRAPH_FIELDS = (
    "edge_index",  # [2, E] long, [0] = j neighbour, [1] = i centre
    "edge_length",  # [E] |vec_ij|
    "edge_vector",  # [E, 3] vec_ij = pos[j] - pos[i] + shift @ cell
    "edge_unit_vector",  # [E, 3] vec_ij / |vec_ij|
    "edge_cutoff",  # [E] edge cutoffs
    "envelope",  # [E] u(r_ij / edge_cutoff_ij)
)
_SUM_AGGRS = ("add", "sum")


class _LocalStack:
    """A per-thread stack; copies and pickles of a model start with a fresh, empty one."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def items(self) -> list:
        items = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = []
        return items

    def top(self):
        items = self.items
        return items[-1] if items else None

    def __deepcopy__(self, memo: dict) -> _LocalStack:
        return _LocalStack()

    def __reduce__(self):
        return (_LocalStack, ())


@dataclass(eq=False)
class ActiveGraph:
    """The FCL graph of one forward pass (what the hooks and :class:`FCLGraph` read).

    Attributes:
        edge_index (Tensor): ``[2, E]``.
        edge_vector (Tensor): ``[E, 3]``.
        edge_length (Tensor): ``[E]``.
        edge_cutoff (Tensor): ``[E]``.
        envelope (Tensor): ``[E]``.
        cutoff (Tensor or None): ``[num_nodes]`` per-atom cutoffs.
        num_nodes (int): number of atoms.
    """

    edge_index: Tensor
    edge_vector: Tensor
    edge_length: Tensor
    edge_cutoff: Tensor
    envelope: Tensor
    cutoff: Tensor | None
    num_nodes: int
    aliases: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    expecting: dict[int, list] = field(default_factory=dict)
    num_propagate: int = 0

    def add_alias(self, edge_index: Tensor, envelope: Tensor) -> None:
        """Accept ``edge_index`` ``[2, E']`` in message passing, with envelopes ``[E']``.

        For edge sets an adapter derives from the FCL edges: with self-loops appended (envelope
        1), or with some sources remapped (e.g. ghost copies of an atom for its own periodic
        images).
        """
        if (
            edge_index.dim() != 2
            or edge_index.size(0) != 2
            or envelope.shape != (edge_index.size(1),)
        ):
            raise ValueError(
                f"an edge_index alias {list(edge_index.shape)} needs one envelope value per "
                f"edge, got {list(envelope.shape)}"
            )
        self.aliases.append((edge_index, envelope))

    def envelope_for(self, edge_index: object) -> Tensor | None:
        """The ``[E']`` envelopes of ``edge_index`` if it is the FCL graph or an alias."""
        if edge_index is self.edge_index:
            return self.envelope
        for alias, env in self.aliases:
            if edge_index is alias:
                return env
        if not isinstance(edge_index, Tensor) or edge_index.layout != torch.strided:
            return None
        for alias, env in [(self.edge_index, self.envelope), *self.aliases]:
            if edge_index.shape == alias.shape and torch.equal(edge_index, alias):
                return env
        return None


class FCLGraph(nn.Module):
    """Drop-in replacement for a backbone's graph-building module.

    Its inputs (positions, batch, ...) are ignored: it returns the FCL graph of the forward pass
    that :class:`FlexibleCutoff` is running, built from ``pos[j] - pos[i] + edge_shift @ cell``
    (so periodic images and autograd forces/stress are right).

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
        self._active = _LocalStack()

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


class CutoffEmbedding(nn.Module):
    """Embedding of each atom's cutoff, ``[num_nodes] -> [num_nodes, dim]``.

    Gaussians of ``r_c`` on ``[0, r_max]`` followed by a two-layer MLP whose last layer starts at
    zero, so adding it to a (pretrained) backbone's node features changes nothing at first.

    Args:
        r_max (float): largest cutoff (Å).
        dim (int): output channels (the backbone's node feature size).
        num_basis (int): number of Gaussians.
    """

    def __init__(self, r_max: float, dim: int, num_basis: int = 8) -> None:
        super().__init__()
        if num_basis < 2 or dim < 1:
            raise ValueError(
                f"CutoffEmbedding: need num_basis >= 2, dim >= 1, got {num_basis}, {dim}"
            )
        self.register_buffer("centers", torch.linspace(0.0, float(r_max), num_basis))
        self.width = float(r_max) / (num_basis - 1)
        self.mlp = nn.Sequential(nn.Linear(num_basis, dim), nn.SiLU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, cutoff: Tensor) -> Tensor:
        """Args: cutoff (Tensor): ``[num_nodes]`` (Å). Returns: ``[num_nodes, dim]``."""
        basis = torch.exp(-(((cutoff.unsqueeze(-1) - self.centers) / self.width) ** 2))
        return self.mlp(basis.to(self.mlp[0].weight.dtype))


def _check_layer(name: str, module: MessagePassing) -> None:
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


def _check_graph_builders(backbone: nn.Module) -> None:
    """Raise for a module with a ``max_num_neighbors`` cap that still builds its own graph."""
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
        self._active = _LocalStack()
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
        _check_graph_builders(self.backbone)
        layers = 0
        for name, module in self.backbone.named_modules():
            if not isinstance(module, MessagePassing):
                continue
            _check_layer(name, module)
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
    ) -> Iterator[ActiveGraph]:
        """Run the backbone on this FCL graph inside the ``with`` block.

        Args:
            edge_index (Tensor): ``[2, E]``, ``[0] = j`` neighbour, ``[1] = i`` centre.
            edge_vector (Tensor): ``[E, 3]`` ``pos[j] - pos[i] + edge_shift @ cell`` (from the
                positions that forces are taken with respect to).
            edge_cutoff (Tensor): ``[E]`` edge cutoffs (differentiable in the per-atom ones).
            cutoff (Tensor, optional): ``[num_nodes]`` per-atom cutoffs (cutoff embedding).
            num_nodes (int, optional): number of atoms (default ``cutoff.numel()``).

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
            envelope=self.envelope(length, edge_cutoff),
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
