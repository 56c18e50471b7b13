"""Exact periodic radius graphs (neighbour lists) with interchangeable backends.

``radius_graph`` returns every pair within the cutoff, PyG direction (``edge_index[0]`` neighbour
``j``, ``edge_index[1]`` centre ``i``) and integer lattice shifts: the same edge set for every
backend, and the same sorted tensors with ``sort=True``; ``edge_vectors`` turns them into
differentiable vectors (``half=True``: each unordered pair once). ``prune_edges`` cuts a cached
``r_max`` graph down to per-edge cutoffs (float32 pre-selection, exact result;
``length_lower_bound`` and ``compact_shift`` prepare the cache); ``prune_pairs`` does it from a
list of pairs, once per pair for symmetric edge rules.

Backends (``available_backends()`` lists the installed ones):

- ``"vesin"``: vesin-torch's cell list (CPU and CUDA). The default (``"auto"``): a prebuilt wheel
  and a dependency of pyg-fcl, exact, and the fastest we measured (docs/benchmarks.md).
- ``"torch_cluster"``: torch-cluster's ``radius`` kernels on periodic images (optional extra,
  ``pip install --no-build-isolation torch-cluster``), never truncated.
- ``"brute"``: pure torch, all pairs against all needed images; the reference for small systems.
"""

from ._edge_vectors import edge_vectors
from ._prune import compact_shift, length_lower_bound, prune_edges, prune_pairs
from ._radius_graph import BACKENDS, available_backends, radius_graph

__all__ = [
    "radius_graph",
    "edge_vectors",
    "available_backends",
    "BACKENDS",
    "prune_edges",
    "prune_pairs",
    "length_lower_bound",
    "compact_shift",
]
