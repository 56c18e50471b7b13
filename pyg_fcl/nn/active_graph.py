"""The FCL graph of one forward pass, shared by :class:`~pyg_fcl.nn.FlexibleCutoff` and its hooks.

:class:`ActiveGraph` holds the edges, lengths, cutoffs and envelopes of the forward running now;
:class:`LocalStack` keeps one stack of them per thread, so concurrent and nested forwards do not
see each other's graphs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["ActiveGraph", "LocalStack"]


class LocalStack:
    """A per-thread stack; copies and pickles of a model start with a fresh, empty one."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def items(self) -> list:
        """The calling thread's stack (created empty on first use)."""
        items = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = []
        return items

    def top(self):
        """The calling thread's last pushed item, or ``None`` when its stack is empty."""
        items = self.items
        return items[-1] if items else None

    def __deepcopy__(self, memo: dict) -> LocalStack:
        return LocalStack()

    def __reduce__(self):
        return (LocalStack, ())


@dataclass(eq=False)
class ActiveGraph:
    """The FCL graph of one forward pass (what the hooks and :class:`~pyg_fcl.nn.FCLGraph` read).

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
