"""A Verlet-skin neighbour list for a batch of structures, kept across MD steps.

The pair search runs at ``reach + skin`` (``reach``: the largest cutoff in use) and is reused
while no atom has moved more than ``skin / 2`` since the search: a pair's distance changes by at
most the sum of the two displacements, so every pair closer than ``reach`` is still listed. Each
call recomputes the lengths of the listed pairs from the current positions and keeps those below
``reach`` as the model's ``r_max`` graph (:class:`~pyg_fcl.graph.RMaxGraph`).

MD engines wrap atoms back into the cell (torch-sim does so every step; LAMMPS on its own
re-neighbouring steps). A jump by a whole lattice vector along a periodic direction is not a
displacement here: it is taken out of the displacement check and folded into the pair shifts
(``shift' = shift - n_j + n_i`` for atoms moved by ``n @ cell``), so wrapping alone never
forces a new search.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..neighbors import edge_vectors, radius_graph
from .rmax_graph import RMaxGraph

__all__ = ["SkinNeighborList"]


class SkinNeighborList:
    """Verlet-skin pair list of a batch of structures (all periodic or not, mixed allowed).

    Args:
        skin (float): skin (Å). ``0`` searches again on every call.
        backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.

    Attributes:
        stats (dict): ``calls`` and ``builds`` (neighbour searches).
    """

    def __init__(self, skin: float = 0.5, backend: str = "auto") -> None:
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0, got skin={skin!r}")
        self.skin = float(skin)
        self.backend = backend
        self._nl: dict | None = None
        self.stats = {"calls": 0, "builds": 0}

    def reset(self) -> None:
        """Forget the list (the next call searches)."""
        self._nl = None

    def graph(
        self,
        pos: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        z: Tensor,
        reach: float,
        complete_to: float,
        before_search: Callable[[], None] | None = None,
    ) -> RMaxGraph:
        """The ``r_max`` graph of the current positions, from the kept list or a new search.

        Args:
            pos (Tensor): ``[N, 3]`` positions (Å).
            cell (Tensor): ``[G, 3, 3]`` lattice vectors as rows (ignored along non-periodic
                directions).
            pbc (Tensor): ``[G, 3]`` bool periodicity.
            batch (Tensor): ``[N]`` structure of each atom, sorted.
            z (Tensor): ``[N]`` atomic numbers (a change of species triggers a search).
            reach (float): keep the pairs closer than this (the largest cutoff in use).
            complete_to (float): radius recorded as searched (the model's ``r_max``: every edge
                any cutoff ``<= reach`` can keep is listed, and the model asks for no more).
            before_search (callable, optional): called before a new search (not when the list
                is reused), e.g. a sanity check of the structure.

        Returns:
            RMaxGraph: pairs with ``length < reach``, shifts valid for the current positions.
        """
        # contiguous copies: vesin reads the raw memory of the cell and pbc (an expanded pbc
        # view would hand it uninitialised flags)
        pos = pos.detach().contiguous()
        cell = cell.detach().to(pos.dtype).contiguous()
        pbc = pbc.to(torch.bool).contiguous()
        self.stats["calls"] += 1
        shift = self._reusable_shifts(pos, cell, pbc, batch, z, reach + self.skin)
        if shift is None:
            if before_search is not None:
                before_search()
            self._search(pos, cell, pbc, batch, z, reach + self.skin)
            shift = self._nl["edge_shift"]
        edge_index = self._nl["edge_index"]
        periodic = cell if bool(pbc.any()) else None
        length = edge_vectors(pos, edge_index, shift, periodic, batch).norm(dim=-1)
        keep = (length < reach).nonzero().squeeze(1)
        num_graphs = cell.size(0)
        radius = torch.full((num_graphs,), float(complete_to), dtype=torch.float64)
        return RMaxGraph(
            edge_index.index_select(1, keep),
            shift.index_select(0, keep),
            length.index_select(0, keep),
            radius.to(pos.device),
        )

    # ------------------------------------------------------------------ internals
    def _search(self, pos, cell, pbc, batch, z, radius: float) -> None:
        periodic = bool(pbc.any())
        edge_index, edge_shift = radius_graph(
            pos,
            radius,
            batch=batch,
            cell=cell if periodic else None,
            pbc=pbc if periodic else None,
            backend=self.backend,
        )
        self._nl = {
            "radius": radius,
            "edge_index": edge_index,
            "edge_shift": edge_shift,
            "pos": pos.clone(),
            "cell": cell.clone(),
            "pbc": pbc.clone(),
            "batch": batch.clone(),
            "z": z.clone(),
        }
        self.stats["builds"] += 1

    def _reusable_shifts(self, pos, cell, pbc, batch, z, radius: float) -> Tensor | None:
        """The list's shifts adapted to lattice jumps, or ``None`` when a search is needed."""
        nl = self._nl
        if (
            nl is None
            or radius > nl["radius"]
            or pos.shape != nl["pos"].shape
            or cell.shape != nl["cell"].shape
            or not torch.equal(z, nl["z"])
            or not torch.equal(batch, nl["batch"])
            or not torch.equal(pbc, nl["pbc"])
            or not torch.equal(cell, nl["cell"])
        ):
            return None
        disp = pos - nl["pos"]
        jumps = torch.zeros_like(disp)
        if bool(pbc.any()):
            rows = cell * pbc.unsqueeze(-1).to(cell.dtype)  # non-periodic rows zeroed
            frac = torch.einsum("nk,nkl->nl", disp, torch.linalg.pinv(rows)[batch])
            jumps = torch.round(frac) * pbc[batch].to(frac.dtype)
            disp = disp - torch.einsum("nk,nkl->nl", jumps, cell[batch])
        if disp.numel() and float(disp.norm(dim=1).max()) > 0.5 * self.skin:
            return None
        if not bool(jumps.any()):
            return nl["edge_shift"]
        n = jumps.to(nl["edge_shift"].dtype)
        j, i = nl["edge_index"]
        return nl["edge_shift"] - n.index_select(0, j) + n.index_select(0, i)
