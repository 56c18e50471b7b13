"""``radius_graph``: the exact periodic radius graph, and the backend registry."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from . import _brute, _torch_cluster, _vesin
from ._cell import CellGeometry, cell_geometry
from ._finalize import Candidates, finalize, search_radius
from ._validation import Inputs, validate_inputs

__all__ = ["radius_graph", "available_backends", "BACKENDS"]

Search = Callable[[Inputs, CellGeometry, float], Candidates]

#: Every backend this module knows, installed or not.
BACKENDS: tuple[str, ...] = ("brute", "torch_cluster", "vesin")


def available_backends() -> list[str]:
    """Names of the backends that can run in this environment.

    Returns:
        list[str]: a subset of ``["brute", "torch_cluster", "vesin"]``; ``"brute"`` is always there.
    """
    names = ["brute"]
    if _torch_cluster.is_available():
        names.append("torch_cluster")
    if _vesin.is_available():
        names.append("vesin")
    return names


def _resolve(backend: str) -> Search:
    if backend == "auto":
        return _vesin.search if _vesin.is_available() else _brute.search
    if backend == "brute":
        return _brute.search
    if backend == "vesin":
        if not _vesin.is_available():
            raise ImportError(
                "backend 'vesin' needs vesin-torch (a dependency of pyg-fcl): "
                "pip install vesin-torch"
            )
        return _vesin.search
    if backend == "torch_cluster":
        if not _torch_cluster.is_available():
            raise ImportError(_torch_cluster.INSTALL_HINT)
        return _torch_cluster.search
    raise ValueError(
        f"unknown neighbour-list backend {backend!r}; choose 'auto' or one of the installed "
        f"backends {available_backends()} (known: {list(BACKENDS)})"
    )


def radius_graph(
    pos: Tensor,
    r_max: float | Tensor,
    batch: Tensor | None = None,
    cell: Tensor | None = None,
    pbc: Tensor | bool | None = None,
    *,
    backend: str = "auto",
    sort: bool = False,
    half: bool = False,
) -> tuple[Tensor, Tensor]:
    """Exact radius graph with periodic boundary conditions.

    Every pair with ``|pos[j] - pos[i] + edge_shift @ cell[batch[i]]| < r_max`` is returned, with
    no cap on the number of neighbours: triclinic cells, any subset of periodic directions, cells
    shorter than the cutoff (several images of one neighbour, and an atom's own images), isolated
    atoms and batches mixing all of these. Only the pair of an atom with itself at zero shift is
    left out. With ``sort=True`` edges are sorted by centre ``i``, then neighbour ``j``, then
    shift (lexicographic), so every backend returns the same tensors; by default they come in the
    backend's (deterministic) order, which is 1.3-2x faster and what training and MD need (the
    models group edges by receiver themselves).

    Args:
        pos (Tensor): ``[num_nodes, 3]`` positions (float32 or float64, any device). Atoms may lie
            outside the cell.
        r_max (float or Tensor): cutoff radius (Å), finite and positive.
        batch (Tensor, optional): ``[num_nodes]`` structure index, sorted ascending (PyG).
            Default: one structure.
        cell (Tensor, optional): ``[num_graphs, 3, 3]`` lattice vectors as rows (``[3, 3]``
            accepted for one structure). Rows along non-periodic directions are ignored and may
            be zero. Default: no cell.
        pbc (Tensor or bool, optional): ``[num_graphs, 3]`` periodicity per direction (``[3]`` or a
            bool accepted). Default: periodic along every non-zero lattice vector of ``cell``.
        backend (str): ``"auto"`` (vesin when installed, else brute), ``"vesin"``, ``"brute"`` or
            ``"torch_cluster"``.
        sort (bool): return the edges in the canonical ``(i, j, shift)`` order (default
            ``False``: the same edge set in the backend's order).
        half (bool): return each unordered pair once instead of both directions: the edge with
            ``i < j``, or ``i == j`` and ``edge_shift`` lexicographically positive (its reverse
            is ``(j, i, -edge_shift)``). Half the memory, and half the work for symmetric edge
            rules (:func:`prune_pairs`).

    Returns:
        tuple[Tensor, Tensor]: ``edge_index`` ``[2, num_edges]`` long with ``edge_index[0] = j``
        (neighbour, source) and ``edge_index[1] = i`` (centre, target), and ``edge_shift``
        ``[num_edges, 3]`` long integer lattice shifts.

    Raises:
        ValueError: bad shapes, non-finite positions or cell, ``r_max <= 0``, an unsorted batch,
            a singular cell along a periodic direction, or an unknown backend.
        ImportError: the requested backend is not installed.

    Example:
        >>> pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
        >>> edge_index, edge_shift = radius_graph(pos, 1.5, sort=True)
        >>> edge_index.tolist()
        [[1, 0], [0, 1]]
    """
    search = _resolve(backend)
    inputs = validate_inputs(pos, r_max, batch, cell, pbc)
    geometry = cell_geometry(inputs)
    if inputs.num_nodes == 0:
        empty = Candidates(inputs.batch, inputs.batch, inputs.batch.view(0, 3))
        return finalize(empty, inputs, sort=sort, half=half)
    candidates = search(inputs, geometry, search_radius(inputs.r_max))
    return finalize(candidates, inputs, sort=sort, half=half)
