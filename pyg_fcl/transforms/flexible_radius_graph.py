"""Radius graph with per-atom cutoffs: search once at ``r_max``, prune many times."""

from __future__ import annotations

import math

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..graph import RMaxGraph, check_edge_rule, resolve_cutoffs
from ..graph.structure import graph_assignment

__all__ = ["FlexibleRadiusGraph"]


class FlexibleRadiusGraph(BaseTransform):
    r"""Builds the flexible-cutoff graph from per-atom cutoffs ``data.cutoff``.

    The exact neighbour search (:func:`pyg_fcl.neighbors.radius_graph`, periodic images
    included) runs once at ``r_max``; its result is cached on the data
    (:class:`~pyg_fcl.graph.RMaxGraph`), and later calls on the returned object (or on a
    ``Batch`` collated from such objects) only prune it with one vectorised mask
    ``length < edge_cutoff``. A cache searched at a radius ``>= r_max`` is reused.
    The cache does not follow the positions: pass ``rebuild=True`` or call
    :meth:`clear_cache` after moving atoms.

    Writes ``edge_index`` ``[2, E]`` (``[0] = j`` neighbour, ``[1] = i`` centre), ``edge_shift``
    ``[E, 3]`` (``vec_ij = pos[j] - pos[i] + edge_shift @ cell``), ``edge_cutoff`` ``[E]``
    (differentiable in ``data.cutoff``) and ``edge_length`` ``[E]`` (detached). A missing
    ``data.cutoff`` means ``r_max`` everywhere and is written as ``[num_nodes]``; a scalar one
    is expanded. Works on a ``Data`` (one structure) and on a ``Batch``; a structure without
    ``pbc`` (or with all-``False`` ``pbc``) is non-periodic.

    Args:
        r_max (float): the largest cutoff (Å); every per-atom cutoff must be in ``(0, r_max]``.
        edge_rule (str): how an edge's cutoff follows from its atoms' cutoffs, one of
            :data:`~pyg_fcl.transforms.EDGE_RULES` (default ``"mean"``).
        backend (str): neighbour-search backend passed to ``radius_graph`` (default ``"auto"``).
        rebuild (bool): search again on every call, ignoring any cache (default ``False``).
    """

    def __init__(
        self, r_max: float, edge_rule: str = "mean", backend: str = "auto", rebuild: bool = False
    ) -> None:
        r_max = float(r_max)
        if not math.isfinite(r_max) or r_max <= 0:
            raise ValueError(f"FlexibleRadiusGraph: r_max must be finite and > 0, got {r_max!r}")
        self.r_max = r_max
        self.edge_rule = check_edge_rule(edge_rule)
        self.backend = backend
        self.rebuild = bool(rebuild)

    def forward(self, data: Data) -> Data:
        if "pos" not in data or data.pos is None:
            raise ValueError("FlexibleRadiusGraph: data.pos is missing")
        batch, num_graphs = graph_assignment(data)
        if self.rebuild:
            RMaxGraph.clear(data)
        rmax = RMaxGraph.ensure(data, self.r_max, self.backend)
        given = data.cutoff if "cutoff" in data else None
        cutoff = resolve_cutoffs(
            given,
            r_max=self.r_max,
            num_nodes=data.num_nodes,
            dtype=data.pos.dtype if given is None else None,
            device=data.pos.device,
            batch=batch if num_graphs > 1 else None,
            source="data.cutoff",
        )
        if cutoff is not given:
            data.cutoff = cutoff
        pruned = rmax.prune(cutoff, self.edge_rule)
        data.edge_index = pruned.edge_index
        data.edge_shift = pruned.edge_shift
        data.edge_cutoff = pruned.edge_cutoff
        data.edge_length = pruned.edge_length
        return data

    def is_cached(self, data: Data, num_graphs: int | None = None) -> bool:
        """Whether ``data`` holds an ``r_max`` graph searched at a radius ``>= self.r_max``."""
        return RMaxGraph.cached(data, self.r_max) is not None

    def build_cache(self, data: Data, batch: Tensor | None = None, num_graphs=None) -> Data:
        """Run the neighbour search at ``r_max`` and cache it on ``data`` (in place)."""
        return RMaxGraph.search(data, self.r_max, self.backend).attach(data)

    @staticmethod
    def clear_cache(data: Data) -> Data:
        """Delete the cached ``r_max`` graph from ``data`` (in place) and return it."""
        return RMaxGraph.clear(data)

    def __repr__(self) -> str:
        extra = ", rebuild=True" if self.rebuild else ""
        return (
            f"{self.__class__.__name__}(r_max={self.r_max}, edge_rule={self.edge_rule!r}, "
            f"backend={self.backend!r}{extra})"
        )
