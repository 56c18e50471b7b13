"""The cached ``r_max`` graph: searched once, pruned to per-atom cutoffs many times.

:class:`RMaxGraph` is the one home of the cache that FCL is built on. It is stored on a PyG
``Data`` under the keys of :data:`CACHE_KEYS` (so it collates into a ``Batch`` like any edge
field: ``rmax_edge_index`` is shifted by PyG because its name contains ``index``); nothing else
in the library spells those keys. It can be

* **built** by an exact neighbour search (:meth:`RMaxGraph.search`),
* **built from a Verlet-skin list** that a calculator keeps across MD steps
  (:meth:`RMaxGraph.from_pairs`: lengths recomputed from the current positions, pairs beyond the
  reach dropped),
* **reused** (:meth:`RMaxGraph.cached` returns it when it was searched at a radius ``>= r_max``;
  :meth:`RMaxGraph.ensure` searches and caches it when it is not there),
  **invalidated** (:meth:`RMaxGraph.clear`),
* **pruned** to per-atom cutoffs under an edge rule (:meth:`RMaxGraph.prune`).

Edge vectors everywhere come from :func:`pyg_fcl.neighbors.edge_vectors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from .. import neighbors as _neighbors
from ..neighbors import edge_vectors, length_lower_bound, prune_edges
from .edge_rules import compute_edge_cutoff
from .structure import graph_assignment, periodic_cell

__all__ = ["RMaxGraph", "PrunedGraph", "CACHE_KEYS", "MIN_DISTANCE"]

#: Keys of the cache on a ``Data``; ``rmax_graph_cutoff`` ``[num_graphs]`` (float64) is the radius
#: each structure was searched at.
CACHE_KEYS = ("rmax_edge_index", "rmax_edge_shift", "rmax_edge_length", "rmax_graph_cutoff")
#: Two atoms (or an atom and a periodic image) closer than this (Å) are overlapping atoms, not
#: physics (H2's bond is 0.74 Å): a search that finds such a pair refuses the structure.
MIN_DISTANCE = 0.1
#: Optional key: float32 lower bounds of the lengths (fast exact pruning, see ``prune``).
BOUND_KEY = "rmax_length_bound"


def _refuse_overlaps(length: Tensor, edge_index: Tensor, batch: Tensor, data: Data) -> None:
    """A clear error for two atoms closer than :data:`MIN_DISTANCE` (free: lengths are here)."""
    if length.numel() == 0:
        return
    shortest = int(length.argmin())
    if float(length[shortest]) >= MIN_DISTANCE:
        return
    j, i = (int(v) for v in edge_index[:, shortest])
    graph = int(batch[i])
    first = int((batch < graph).sum())
    source = str(data["source"]) if "source" in data and isinstance(data["source"], str) else ""
    where = f"{source!r}, " if source else ""
    frame = data["frame"] if "frame" in data and not isinstance(data["frame"], Tensor) else None
    where += f"frame {frame}, " if frame is not None else f"structure {graph}, "
    raise ValueError(
        f"{where}atoms {i - first} and {j - first} are {float(length[shortest]):.3g} Å apart "
        f"(an atom or its periodic image closer than {MIN_DISTANCE} Å): overlapping atoms, "
        "or coordinates in the wrong unit"
    )


@dataclass(frozen=True)
class PrunedGraph:
    """Edges kept under per-atom cutoffs.

    Attributes:
        edge_index (Tensor): ``[2, E]`` (``[0] = j`` neighbour, ``[1] = i`` centre).
        edge_shift (Tensor): ``[E, 3]`` integer cell shifts.
        edge_cutoff (Tensor): ``[E]`` edge cutoffs (differentiable in the per-atom cutoffs).
        edge_length (Tensor): ``[E]`` lengths at search time (detached).
    """

    edge_index: Tensor
    edge_shift: Tensor
    edge_cutoff: Tensor
    edge_length: Tensor


@dataclass(frozen=True)
class RMaxGraph:
    """Every pair within the search radius of each structure.

    Attributes:
        edge_index (Tensor): ``[2, E_max]``.
        edge_shift (Tensor): ``[E_max, 3]`` integer shifts
            (``vec = pos[j] - pos[i] + shift @ cell``).
        edge_length (Tensor): ``[E_max]`` lengths (detached; dtype of the positions).
        radius (Tensor): ``[num_graphs]`` float64, the radius each structure's list is complete to.
        length_bound (Tensor, optional): ``[E_max]`` float32 lower bounds of the lengths
            (:func:`~pyg_fcl.neighbors.length_lower_bound`), computed once with the graph so
            that pruning decides in float32 (computed on the fly when absent).
    """

    edge_index: Tensor
    edge_shift: Tensor
    edge_length: Tensor
    radius: Tensor
    length_bound: Tensor | None = None

    @property
    def num_edges(self) -> int:
        """Number of pairs in the list."""
        return int(self.edge_index.size(1))

    # ------------------------------------------------------------------ building
    @classmethod
    def search(cls, data: Data, r_max: float, backend: str = "auto") -> RMaxGraph:
        """Exact neighbour search of ``data`` (a ``Data`` or ``Batch``) at ``r_max``."""
        batch, num_graphs = graph_assignment(data)
        pos = data.pos.detach()
        cell, pbc = periodic_cell(data, num_graphs)
        edge_index, edge_shift = _neighbors.radius_graph(
            pos, r_max, batch=batch, cell=cell, pbc=pbc, backend=backend
        )
        length = edge_vectors(pos, edge_index, edge_shift, cell, batch).norm(dim=-1)
        _refuse_overlaps(length, edge_index, batch, data)
        radius = torch.full((num_graphs,), float(r_max), dtype=torch.float64, device=pos.device)
        return cls(edge_index, edge_shift, length, radius, length_lower_bound(length))

    @classmethod
    def from_pairs(
        cls,
        pos: Tensor,
        edge_index: Tensor,
        edge_shift: Tensor,
        cell: Tensor | None,
        reach: float,
        complete_to: float,
    ) -> RMaxGraph:
        """The cache of one structure from a (Verlet-skin) pair list that is still valid.

        Args:
            pos (Tensor): ``[N, 3]`` current positions. cell (Tensor, optional): ``[3, 3]`` or
                ``[1, 3, 3]`` (``None``: non-periodic).
            edge_index (Tensor): ``[2, P]`` listed pairs. edge_shift (Tensor): ``[P, 3]``.
            reach (float): keep the pairs closer than this (the largest cutoff in use).
            complete_to (float): radius recorded as searched (the model's ``r_max``: every edge
                any cutoff ``<= reach`` can keep is in the list, and the model never asks for
                more).
        """
        pos = pos.detach()
        cells = None if cell is None else cell.reshape(1, 3, 3).to(pos.dtype)
        batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
        length = edge_vectors(pos, edge_index, edge_shift, cells, batch).norm(dim=-1)
        keep = (length < reach).nonzero().squeeze(1)
        radius = torch.full((1,), float(complete_to), dtype=torch.float64, device=pos.device)
        return cls(
            edge_index.index_select(1, keep),
            edge_shift.index_select(0, keep),
            length.index_select(0, keep),
            radius,
        )

    # ------------------------------------------------------------------ the cache on a Data
    @staticmethod
    def cached(data: Data, r_max: float | None = None) -> RMaxGraph | None:
        """The graph cached on ``data``, or ``None`` when absent (or searched below ``r_max``)."""
        if any(key not in data for key in CACHE_KEYS):
            return None
        bound = data[BOUND_KEY] if BOUND_KEY in data else None
        if bound is not None and bound.numel() != data["rmax_edge_length"].numel():
            bound = None  # stale (the cache was replaced by hand): recompute when pruning
        graph = RMaxGraph(*(data[key] for key in CACHE_KEYS), length_bound=bound)
        if r_max is not None:
            num_graphs = graph_assignment(data)[1]
            if graph.radius.numel() != num_graphs or not bool((graph.radius >= r_max).all()):
                return None
        return graph

    @classmethod
    def ensure(cls, data: Data, r_max: float, backend: str = "auto") -> RMaxGraph:
        """The graph cached on ``data`` when searched at ``>= r_max``, else a new search that is
        cached on ``data`` (in place)."""
        rmax = cls.cached(data, r_max)
        if rmax is None:
            rmax = cls.search(data, r_max, backend)
            rmax.attach(data)
        return rmax

    def attach(self, data: Data) -> Data:
        """Write the cache keys onto ``data`` (in place) and return it."""
        for key, value in zip(
            CACHE_KEYS, (self.edge_index, self.edge_shift, self.edge_length, self.radius)
        ):
            data[key] = value
        return data

    @staticmethod
    def clear(data: Data) -> Data:
        """Delete the cached graph from ``data`` (in place) and return it."""
        for key in (*CACHE_KEYS, BOUND_KEY):
            if key in data:
                del data[key]
        return data

    # ------------------------------------------------------------------ pruning
    def edge_cutoff(self, cutoff: Tensor, edge_rule: str) -> Tensor:
        """``[E_max]`` edge cutoffs of every listed pair, differentiable in ``cutoff`` ``[N]``."""
        return compute_edge_cutoff(cutoff, self.edge_index, edge_rule)

    def kept(self, cutoff: Tensor, edge_rule: str) -> Tensor:
        """``[E_max]`` bool: the pairs the cutoffs ``[N]`` keep (``r < edge_cutoff``), the same
        pairs :meth:`prune` returns, without building the pruned graph."""
        return self.edge_length < self.edge_cutoff(cutoff.detach(), edge_rule)

    def num_kept(self, cutoff: Tensor, edge_rule: str) -> int:
        """How many pairs the cutoffs ``[N]`` keep (``r < edge_cutoff``)."""
        return int(self.kept(cutoff, edge_rule).sum())

    def prune(self, cutoff: Tensor, edge_rule: str) -> PrunedGraph:
        """The edges with ``r_ij < edge_cutoff_ij`` under ``edge_rule`` (exactly those of the
        mask, decided in float32 first: :func:`~pyg_fcl.neighbors.prune_edges`).

        Args:
            cutoff (Tensor): ``[N]`` per-atom cutoffs (may require grad).
            edge_rule (str): see :data:`~pyg_fcl.graph.EDGE_RULES`.
        """
        return PrunedGraph(
            *prune_edges(
                self.edge_index,
                self.edge_shift,
                self.edge_length,
                cutoff,
                lambda c, e: compute_edge_cutoff(c, e, edge_rule),
                self.length_bound,
            )
        )

    def unpruned(self, cutoff: Tensor, edge_rule: str) -> PrunedGraph:
        """Every listed pair with its edge cutoff (the envelope alone switches edges off)."""
        edge_cutoff = self.edge_cutoff(cutoff, edge_rule)
        return PrunedGraph(self.edge_index, self.edge_shift, edge_cutoff, self.edge_length)
