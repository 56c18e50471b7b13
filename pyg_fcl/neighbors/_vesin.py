"""vesin backend: vesin-torch's exact cell-list search, one call per structure.

vesin (https://github.com/Luthaf/vesin) ships prebuilt wheels for CPU and CUDA, supports
per-direction periodicity, triclinic cells and cells smaller than the cutoff, and is the fastest
exact search measured for this project (docs/benchmarks.md). vesin 0.6 takes per-direction
``periodic`` flags (mixed PBC checked against ASE in the tests) and ignores rows along open
directions, but a zero *periodic* lattice vector kills the process with SIGFPE inside vesin; so
degenerate periodic cells are rejected before vesin sees them, and vesin gets the effective cell
(orthonormal rows along open directions), an always-invertible box.

vesin is asked for a half list (each unordered pair once, about 0.6x the full-list time); the
reverse edges are appended afterwards, or added while sorting when sorted output is asked for
(see ``_finalize``).

vesin's cell list also dies with SIGFPE on very elongated or flat point sets (measured with
vesin-torch 0.6.2: two atoms 5e5 Å apart at a 5 Å cutoff, or a flat 500 x 500 Å set at 1 Å),
apparently when it shrinks too many cells to fit its cell budget and a direction ends up with
none. :func:`_extent_cells` estimates those cell counts first: a non-periodic structure gets
padded with far-away dummy points that make its bounding box isotropic (their pairs are dropped;
the answer is unchanged), and a periodic cell that anisotropic (absurd: lattice planes 1e4
cutoffs apart) is refused with a ValueError instead of crashing the process.
"""

from __future__ import annotations

import math

import torch

from ._cell import CellGeometry
from ._finalize import Candidates
from ._validation import Inputs

__all__ = ["search", "is_available"]

# vesin's cell budget is ~1e5 cells (measured); stay well below the point where it must shrink a
# direction to fewer than one cell.
_CELL_BUDGET = 5e4


def is_available() -> bool:
    """Whether vesin-torch can be imported."""
    try:
        import vesin_torch  # noqa: F401
    except ImportError:
        return False
    return True


def _extent_cells(pos: torch.Tensor, eff: torch.Tensor, heights: list, r: float) -> list:
    """Cells per direction (at least 1) a cell list at radius ``r`` would use: plane heights
    along periodic directions (``heights`` finite), the extent of ``pos`` along open ones."""
    if all(math.isinf(h) for h in heights):
        spans = (pos.amax(0) - pos.amin(0)).tolist()
    elif any(math.isinf(h) for h in heights):
        frac = pos @ torch.linalg.inv(eff)
        spans = ((frac.amax(0) - frac.amin(0)) * torch.linalg.vector_norm(eff, dim=-1)).tolist()
    else:
        spans = heights
    return [max((h if math.isfinite(h) else s) / r, 1.0) for h, s in zip(heights, spans)]


def _is_unsafe(cells: list) -> bool:
    """Whether fitting ``cells`` into vesin's budget could leave a direction without a cell."""
    total = math.prod(cells)
    return total > _CELL_BUDGET and min(cells) * (_CELL_BUDGET / total) ** (1 / 3) < 2.0


def _isotropic_padding(pos: torch.Tensor, r: float) -> torch.Tensor:
    """Dummy points ``[D, 3]`` (D <= 3) making the bounding box of ``pos`` a cube, each at least
    ``2 r`` from every point of ``pos``."""
    lo = pos.amin(0)
    span = pos.amax(0) - lo
    side = float(span.max()) + 2.0 * r
    pads = []
    for k in range(3):
        if float(span[k]) < side - r:
            point = lo.clone()
            point[k] = lo[k] + side  # more than r beyond every atom along k
            pads.append(point)
    return torch.stack(pads) if pads else pos[:0]


def search(inputs: Inputs, geometry: CellGeometry, r: float) -> Candidates:
    """Runs vesin on each structure of the batch.

    Args:
        inputs (Inputs): validated arguments.
        geometry (CellGeometry): effective cells.
        r (float): search radius.

    Returns:
        Candidates: a half list (each unordered pair once) with vesin's float64 distances.
    """
    from vesin_torch import NeighborList

    calculator = NeighborList(cutoff=r, full_list=False)
    # vesin reads the raw memory of its inputs: an expanded (stride-0) pbc or cell view would hand
    # it junk periodicity flags (pairs silently missing), so every input is made contiguous
    periodic = inputs.pbc.cpu().contiguous()  # a small flag tensor, read by vesin on the host
    heights = geometry.heights.tolist()
    parts = []
    for g in range(inputs.num_graphs):
        a, b = inputs.ptr[g], inputs.ptr[g + 1]
        if a == b:
            continue
        points = inputs.pos[a:b]
        cells = _extent_cells(points, geometry.eff[g], heights[g], r)
        pad = 0
        if _is_unsafe(cells):
            if bool(periodic[g].any()):
                raise ValueError(
                    f"structure {g}: cell too anisotropic for a cell-list search at r={r:.4g} Å "
                    f"(about {[f'{c:.3g}' for c in cells]} cutoffs per direction); check the "
                    "cell and its units, or use backend='brute'"
                )
            extra = _isotropic_padding(points, r)
            pad = extra.shape[0]
            points = torch.cat([points, extra])
        i, j, shift, dist = calculator.compute(
            points=points.contiguous(),
            box=geometry.eff[g].contiguous(),
            periodic=periodic[g].contiguous(),
            quantities="ijSd",
        )
        if pad:
            real = (i < b - a) & (j < b - a)
            i, j, shift, dist = i[real], j[real], shift[real], dist[real]
        parts.append((i + a, j + a, shift, dist) if a > 0 else (i, j, shift, dist))
    if not parts:
        empty = torch.zeros(0, dtype=torch.long, device=inputs.pos.device)
        return Candidates(empty, empty, empty.view(0, 3), empty.double(), half=True)
    if len(parts) == 1:
        return Candidates(*parts[0], half=True)
    i, j, shift, dist = (torch.cat(t) for t in zip(*parts))
    return Candidates(i, j, shift, dist, half=True)
