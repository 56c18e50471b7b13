"""vesin backend: vesin-torch's exact cell-list search, one call per structure.

vesin (https://github.com/Luthaf/vesin) ships prebuilt wheels for CPU and CUDA, supports
per-direction periodicity, triclinic cells and cells smaller than the cutoff, and is the fastest
exact search measured for this project (docs/benchmarks.md). vesin 0.6 takes per-direction
``periodic`` flags (mixed PBC checked against ASE in the tests) and ignores rows along open
directions, but a zero *periodic* lattice vector kills the process with SIGFPE inside vesin; so
degenerate periodic cells are rejected before vesin sees them, and vesin gets the effective cell
(orthonormal rows along open directions), an always-invertible box.

vesin is asked for a half list (each unordered pair once, about half of the full-list time);
the reverse edges are added while sorting (see ``_finalize``).
"""

from __future__ import annotations

import torch

from ._cell import CellGeometry
from ._finalize import Candidates
from ._validation import Inputs

__all__ = ["search", "is_available"]


def is_available() -> bool:
    """Whether vesin-torch can be imported."""
    try:
        import vesin_torch  # noqa: F401
    except ImportError:
        return False
    return True


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
    periodic = inputs.pbc.cpu()  # a small flag tensor, read by vesin on the host
    parts = []
    for g in range(inputs.num_graphs):
        a, b = inputs.ptr[g], inputs.ptr[g + 1]
        if a == b:
            continue
        i, j, shift, dist = calculator.compute(
            points=inputs.pos[a:b],
            box=geometry.eff[g],
            periodic=periodic[g],
            quantities="ijSd",
        )
        parts.append((i + a, j + a, shift, dist) if a > 0 else (i, j, shift, dist))
    if not parts:
        empty = torch.zeros(0, dtype=torch.long, device=inputs.pos.device)
        return Candidates(empty, empty, empty.view(0, 3), empty.double(), half=True)
    if len(parts) == 1:
        return Candidates(*parts[0], half=True)
    i, j, shift, dist = (torch.cat(t) for t in zip(*parts))
    return Candidates(i, j, shift, dist, half=True)
