"""vesin backend: vesin-torch's exact cell-list search, one call per structure.

vesin (https://github.com/Luthaf/vesin) ships prebuilt wheels for CPU and CUDA, supports
per-direction periodicity, triclinic cells and cells smaller than the cutoff, and is the fastest
exact search measured for this project (docs/benchmarks.md). Its box must be invertible, so
structures get the effective cell (orthonormal vectors along non-periodic directions): vesin
crashes on a zero lattice vector even in a non-periodic direction.
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
        Candidates: pairs with vesin's float64 distances.
    """
    from vesin_torch import NeighborList

    calculator = NeighborList(cutoff=r, full_list=True)
    i_l, j_l, s_l, d_l = [], [], [], []
    for g in range(inputs.num_graphs):
        a, b = inputs.ptr[g], inputs.ptr[g + 1]
        if a == b:
            continue
        i, j, shift, dist = calculator.compute(
            points=inputs.pos[a:b],
            box=geometry.eff[g],
            periodic=inputs.pbc[g],
            quantities="ijSd",
        )
        i_l.append(i + a)
        j_l.append(j + a)
        s_l.append(shift)
        d_l.append(dist)
    if not i_l:
        empty = torch.zeros(0, dtype=torch.long, device=inputs.pos.device)
        return Candidates(empty, empty, empty.view(0, 3), empty.double())
    return Candidates(torch.cat(i_l), torch.cat(j_l), torch.cat(s_l), torch.cat(d_l))
