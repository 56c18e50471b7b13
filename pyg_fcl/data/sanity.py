"""One sanity check of a structure, shared by every entry point (reading, calculator, evaluate).

A structure that no interatomic potential can describe gives a clear :class:`ValueError` naming
the structure (file and frame), the atom(s) and the value, instead of NaN or absurd numbers:

* non-finite: a position or cell entry is NaN/Inf (a broken file, a diverged MD);
* no atoms: an empty frame or selection;
* overlapping atoms: two atoms (or an atom and a periodic image) closer than ``MIN_DISTANCE``
  (duplicated atoms, wrong units, a broken cell);
* absurd density: a 3D-periodic cell holding more than ``MAX_DENSITY`` atoms/Å³ (a cell given in
  nm while positions are in Å, a 1-atom 0.05 Å cell).

The thresholds leave physics untouched: the shortest bond (H₂, 0.74 Å) is 7x ``MIN_DISTANCE`` and
the densest solids hold ~0.2 atoms/Å³ (diamond 0.18), 5x below ``MAX_DENSITY``. The expected edge
count and extreme non-periodic extents are checked by the neighbour search itself
(:func:`pyg_fcl.radius_graph`), before anything is allocated.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Closest allowed distance (Å) between two atoms (or an atom and a periodic image): one threshold
# for this check and the neighbour search's (pyg_fcl.graph.RMaxGraph).
from ..graph.rmax_graph import MIN_DISTANCE

__all__ = ["check_structure", "check_data", "MIN_DISTANCE", "MAX_DENSITY"]

#: Largest allowed density (atoms/Å³) of a 3D-periodic structure.
MAX_DENSITY = 1.0


def _first_bad_row(values: Tensor) -> int:
    return int((~torch.isfinite(values).reshape(values.shape[0], -1).all(1)).nonzero()[0, 0])


def check_structure(
    pos: Tensor,
    cell: Tensor | None = None,
    pbc: Tensor | None = None,
    *,
    where: str = "structure",
    min_distance: float = MIN_DISTANCE,
    max_density: float = MAX_DENSITY,
) -> None:
    """Raise ``ValueError`` if one structure is not physically sensible (see module docstring).

    Args:
        pos (Tensor): ``[num_atoms, 3]`` positions (Å).
        cell (Tensor, optional): ``[3, 3]`` or ``[1, 3, 3]`` lattice vectors as rows (Å).
        pbc (Tensor, optional): ``[3]`` or ``[1, 3]`` periodic directions.
        where (str): how to name the structure in messages (e.g. ``"'x.xyz', frame 3"``).
        min_distance (float): closest allowed distance (Å); ``0`` turns the check off.
        max_density (float): largest allowed density (atoms/Å³) of a 3D-periodic cell.

    Raises:
        ValueError: naming ``where``, the check, the atom(s) and the value.
    """
    pos = torch.as_tensor(pos).detach().to("cpu", torch.float64).reshape(-1, 3)
    n = pos.shape[0]
    if n == 0:
        raise ValueError(f"{where}: structure has no atoms")
    if not bool(torch.isfinite(pos).all()):
        atom = _first_bad_row(pos)
        raise ValueError(f"{where}, atom {atom}: non-finite position {pos[atom].tolist()}")
    if cell is None:
        cell = torch.zeros(3, 3, dtype=torch.float64)
    cell = torch.as_tensor(cell).detach().to("cpu", torch.float64).reshape(3, 3)
    if not bool(torch.isfinite(cell).all()):
        raise ValueError(f"{where}: non-finite cell {cell.tolist()}")
    pbc = torch.zeros(3, dtype=torch.bool) if pbc is None else torch.as_tensor(pbc).reshape(3)
    pbc = pbc.to("cpu", torch.bool)
    for k in range(3):
        if bool(pbc[k]) and not bool(cell[k].any()):
            raise ValueError(f"{where}: periodic direction {k} has a zero lattice vector")
    if bool(pbc.all()):
        volume = float(torch.linalg.det(cell).abs())
        if volume <= 0.0 or n / volume > max_density:
            lengths = [round(v, 4) for v in torch.linalg.vector_norm(cell, dim=1).tolist()]
            raise ValueError(
                f"{where}: {n} atoms in a cell of {volume:.4g} Å^3 (lattice vector lengths "
                f"{lengths} Å) is {n / max(volume, 1e-300):.3g} atoms/Å^3, more than "
                f"{max_density:g}; solids hold ~0.2 atoms/Å^3: is the cell in nm instead of Å?"
            )
    if min_distance > 0:
        _check_overlaps(pos, cell, pbc, where, min_distance)


def _search_radius(pos: Tensor, cell: Tensor, pbc: Tensor, min_distance: float) -> float:
    """A radius >= ``min_distance`` giving a cell list of about one cell per atom (a search at
    0.1 Å in a 25 Å box would sweep 15,625 empty cells); at most 5 Å."""
    spans = (pos.amax(0) - pos.amin(0)).clamp(min=1.0)
    if bool(pbc.all()):
        volume = float(torch.linalg.det(cell).abs())
    else:
        volume = float(spans.prod())
    return min(max(min_distance, (volume / pos.shape[0]) ** (1 / 3)), max(5.0, min_distance))


def _check_overlaps(pos: Tensor, cell: Tensor, pbc: Tensor, where: str, min_distance: float):
    from ..neighbors import radius_graph

    periodic = bool(pbc.any())
    radius = _search_radius(pos, cell, pbc, min_distance)
    edge_index, shift = radius_graph(
        pos, radius, cell=cell if periodic else None, pbc=pbc if periodic else None
    )
    if edge_index.shape[1] == 0:
        return
    j, i = edge_index
    vec = pos[j] - pos[i]
    if periodic:
        vec = vec + shift.to(torch.float64) @ cell
    length = vec.norm(dim=1)
    close = (length < min_distance).nonzero()
    if close.numel() == 0:
        return
    k = int(close[0, 0])
    i, j, s = int(i[k]), int(j[k]), shift[k]
    image = f" (periodic image {s.tolist()})" if bool(s.any()) else ""
    what = f"atom {i} and its own image{image}" if i == j else f"atoms {i} and {j}{image}"
    raise ValueError(
        f"{where}: {what} are {float(length[k]):.4g} Å apart, closer than {min_distance:g} Å "
        "(overlapping atoms: duplicated atoms or wrong units?)"
    )


def check_data(data, where: str | None = None, **kwargs) -> None:
    """:func:`check_structure` of one PyG ``Data`` (``pos``, optional ``cell``/``pbc``); the
    message names ``data.source`` and ``data.frame`` when present."""
    if where is None:
        source = getattr(data, "source", "") or ""
        frame = getattr(data, "frame", None)
        frame = int(frame.reshape(-1)[0]) if isinstance(frame, Tensor) else frame
        where = f"{source!r}, frame {frame}" if source else "structure"
    check_structure(
        data.pos, getattr(data, "cell", None), getattr(data, "pbc", None), where=where, **kwargs
    )
