"""Pure-torch reference backend: every centre against every needed periodic image.

Quadratic in the number of atoms per structure; meant for small systems, tests, and as the
fallback when no compiled backend is installed. Memory is bounded by processing centres in blocks.
"""

from __future__ import annotations

import torch

from ._cell import CellGeometry
from ._finalize import Candidates
from ._images import build_halo
from ._validation import Inputs

__all__ = ["search"]

# Centre-image distances evaluated per block (bounds peak memory to a few hundred MB).
_BLOCK_PAIRS = 1 << 21


def search(inputs: Inputs, geometry: CellGeometry, r: float) -> Candidates:
    """Finds all (centre, image) pairs closer than ``r`` by exhaustive comparison.

    Args:
        inputs (Inputs): validated arguments.
        geometry (CellGeometry): effective cells and heights.
        r (float): search radius.

    Returns:
        Candidates: pairs with shifts relative to the original (unwrapped) positions.
    """
    halo = build_halo(inputs, geometry, r)
    r2 = r * r
    i_l, img_l = [], []
    for g in range(inputs.num_graphs):
        a, b = inputs.ptr[g], inputs.ptr[g + 1]
        ia, ib = halo.ptr[g], halo.ptr[g + 1]
        if a == b or ia == ib:
            continue
        images = halo.pos[ia:ib]
        block = max(1, _BLOCK_PAIRS // images.shape[0])
        for c in range(a, b, block):
            centres = halo.wrapped[c : min(c + block, b)]
            d2 = (centres.unsqueeze(1) - images.unsqueeze(0)).square().sum(-1)
            ci, mi = (d2 < r2).nonzero(as_tuple=True)
            i_l.append(ci + c)
            img_l.append(mi + ia)
    device = inputs.pos.device
    if not i_l:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Candidates(empty, empty, empty.view(0, 3))
    i = torch.cat(i_l)
    img = torch.cat(img_l)
    j, shift = halo.resolve(i, img)
    return Candidates(i, j, shift)
