"""Radius graph with per-atom cutoffs: search once at ``r_max``, prune many times."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .. import neighbors as _neighbors
from ._structure import graph_assignment, periodic_cell
from .edge_rules import check_edge_rule, compute_edge_cutoff, validate_cutoff

__all__ = ["FlexibleRadiusGraph"]

#: Keys of the cached ``r_max`` graph. ``rmax_graph_cutoff`` (``[num_graphs]``, float64) records
#: the radius each structure was searched at; all collate correctly into a ``Batch``.
CACHE_KEYS = ("rmax_edge_index", "rmax_edge_shift", "rmax_edge_length", "rmax_graph_cutoff")


def _edge_lengths(pos: Tensor, edge_index: Tensor, edge_shift: Tensor, cell, batch) -> Tensor:
    j, i = edge_index
    vec = pos[j] - pos[i]
    if cell is not None:
        vec = vec + torch.einsum("ek,ekl->el", edge_shift.to(pos.dtype), cell[batch[i]])
    return vec.norm(dim=-1)


class FlexibleRadiusGraph(BaseTransform):
    r"""Builds the flexible-cutoff graph from per-atom cutoffs ``data.cutoff``.

    The exact neighbour search (:func:`pyg_fcl.neighbors.radius_graph`, periodic images
    included) runs once at ``r_max``; its result is cached on the data as ``rmax_edge_index``
    ``[2, E_max]``, ``rmax_edge_shift`` ``[E_max, 3]``, ``rmax_edge_length`` ``[E_max]`` and
    ``rmax_graph_cutoff`` ``[num_graphs]``, and later calls on the returned object (or on a
    ``Batch`` collated from such objects) only prune it with one vectorised mask
    ``rmax_edge_length < edge_cutoff``. A cache searched at a radius ``>= r_max`` is reused.
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
        if self.rebuild or not self.is_cached(data, num_graphs):
            self.build_cache(data, batch, num_graphs)
        given = data.cutoff if "cutoff" in data else None
        cutoff = validate_cutoff(
            self.r_max if given is None else given,
            self.r_max,
            data.num_nodes,
            dtype=data.pos.dtype if given is None else None,
            device=data.pos.device,
            batch=batch if num_graphs > 1 else None,
            source="data.cutoff",
        )
        if cutoff is not given:
            data.cutoff = cutoff
        edge_cutoff = compute_edge_cutoff(cutoff, data.rmax_edge_index, self.edge_rule)
        # one mask, turned into indices once (faster than four boolean-mask selections)
        keep = (data.rmax_edge_length < edge_cutoff.detach()).nonzero().squeeze(1)
        data.edge_index = data.rmax_edge_index.index_select(1, keep)
        data.edge_shift = data.rmax_edge_shift.index_select(0, keep)
        data.edge_cutoff = edge_cutoff.index_select(0, keep)
        data.edge_length = data.rmax_edge_length.index_select(0, keep)
        return data

    def is_cached(self, data: Data, num_graphs: int | None = None) -> bool:
        """Whether ``data`` holds an ``r_max`` graph searched at a radius ``>= self.r_max``."""
        if any(key not in data for key in CACHE_KEYS):
            return False
        if num_graphs is None:
            num_graphs = graph_assignment(data)[1]
        searched = data.rmax_graph_cutoff
        return searched.numel() == num_graphs and bool((searched >= self.r_max).all())

    def build_cache(
        self, data: Data, batch: Tensor | None = None, num_graphs: int | None = None
    ) -> Data:
        """Run the neighbour search at ``r_max`` and write the cache keys onto ``data``."""
        if batch is None or num_graphs is None:
            batch, num_graphs = graph_assignment(data)
        pos = data.pos.detach()
        cell, pbc = periodic_cell(data, num_graphs)
        edge_index, edge_shift = _neighbors.radius_graph(
            pos, self.r_max, batch=batch, cell=cell, pbc=pbc, backend=self.backend
        )
        data.rmax_edge_index = edge_index
        data.rmax_edge_shift = edge_shift
        data.rmax_edge_length = _edge_lengths(pos, edge_index, edge_shift, cell, batch)
        data.rmax_graph_cutoff = torch.full(
            (num_graphs,), self.r_max, dtype=torch.float64, device=pos.device
        )
        return data

    @staticmethod
    def clear_cache(data: Data) -> Data:
        """Delete the cached ``r_max`` graph from ``data`` (in place) and return it."""
        for key in CACHE_KEYS:
            if key in data:
                del data[key]
        return data

    def __repr__(self) -> str:
        extra = ", rebuild=True" if self.rebuild else ""
        return (
            f"{self.__class__.__name__}(r_max={self.r_max}, edge_rule={self.edge_rule!r}, "
            f"backend={self.backend!r}{extra})"
        )
