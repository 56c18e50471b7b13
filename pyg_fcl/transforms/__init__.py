"""PyG transforms for flexible-cutoff graphs: per-atom cutoff sampling, search-once-prune-many.

The edge rules and the cutoff checks live in :mod:`pyg_fcl.graph`; they stay importable from here.
"""

from ..graph import EDGE_RULES, check_edge_rule, compute_edge_cutoff, validate_cutoff
from .flexible_radius_graph import FlexibleRadiusGraph
from .per_atom_cutoff_sampler import PerAtomCutoffSampler

__all__ = [
    "EDGE_RULES",
    "check_edge_rule",
    "compute_edge_cutoff",
    "validate_cutoff",
    "FlexibleRadiusGraph",
    "PerAtomCutoffSampler",
]
