"""torch_cluster backend: the torch-cluster ``radius`` kernels on a periodic halo.

torch-cluster has no periodic boundaries, so each structure's atoms are replicated into the
periodic images that can lie within the cutoff (see ``_images``) and ``radius`` searches those for
every wrapped centre; structures are kept apart by torch-cluster's batch vectors.

torch-cluster caps every centre at ``max_num_neighbors`` results and silently drops the rest. Here
the cap can never bite unnoticed: on CPU it is the number of candidate images (the kernel
allocates per result, so that costs nothing); on CUDA the kernel preallocates
``num_centres * max_num_neighbors`` slots, so the search starts from an estimate and is repeated
with a larger cap until every centre's degree is strictly below it.
"""

from __future__ import annotations

import torch

from ._cell import CellGeometry
from ._finalize import Candidates
from ._images import build_halo
from ._validation import Inputs

__all__ = ["search", "is_available", "INSTALL_HINT"]

INSTALL_HINT = (
    "the 'torch_cluster' backend needs torch-cluster, which is not installed (it is an optional "
    "extra built from source): pip install --no-build-isolation torch-cluster"
)
# First cap tried on CUDA (then multiplied by 4 until no centre reaches it).
_CUDA_START = 128


def is_available() -> bool:
    """Whether torch-cluster can be imported."""
    try:
        import torch_cluster  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def search(inputs: Inputs, geometry: CellGeometry, r: float) -> Candidates:
    """Runs ``torch_cluster.radius`` from the wrapped centres to their periodic images.

    Args:
        inputs (Inputs): validated arguments.
        geometry (CellGeometry): effective cells and heights.
        r (float): search radius.

    Returns:
        Candidates: pairs with shifts relative to the original (unwrapped) positions.

    Raises:
        ImportError: torch-cluster is not installed.
    """
    try:
        from torch_cluster import radius
    except (ImportError, OSError) as err:
        raise ImportError(INSTALL_HINT) from err

    halo = build_halo(inputs, geometry, r)
    num_images = halo.pos.shape[0]
    device = inputs.pos.device
    if num_images == 0 or inputs.num_nodes == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Candidates(empty, empty, empty.view(0, 3))
    cap = num_images + 1 if device.type == "cpu" else min(_CUDA_START, num_images + 1)
    while True:
        pairs = radius(
            halo.pos,
            halo.wrapped,
            r,
            batch_x=halo.batch,
            batch_y=inputs.batch,
            max_num_neighbors=cap,
            batch_size=inputs.num_graphs,
        )
        degree = torch.bincount(pairs[0], minlength=inputs.num_nodes)
        if pairs.shape[1] == 0 or int(degree.max()) < cap:
            break
        if cap > num_images:  # impossible: a centre cannot have more results than images
            raise RuntimeError(
                f"torch_cluster.radius returned {int(degree.max())} neighbours for one centre "
                f"with max_num_neighbors={cap} and only {num_images} candidate images"
            )
        cap = min(4 * cap, num_images + 1)
    i = pairs[0]
    j, shift = halo.resolve(i, pairs[1])
    return Candidates(i, j, shift)
