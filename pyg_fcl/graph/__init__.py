"""The graph core: edge rules, per-atom cutoffs, and the cached ``r_max`` graph.

This package sits below data, transforms, models, optimization and the calculator; each of them
takes its cutoffs and graphs from here:

* :data:`EDGE_RULES` and :func:`compute_edge_cutoff` — an edge's cutoff from its atoms' cutoffs;
* :class:`CutoffSpec` (the cutoffs-file value), :func:`load_cutoffs` / :func:`save_cutoffs`, and
  :func:`resolve_cutoffs`, the one function turning anything a user passes into the per-atom
  tensor, with one set of errors;
* :func:`prepare_cutoffs` / :func:`per_atom_cutoffs` — cutoffs bound to a model (its range,
  its elements, its extrapolation rule), as the calculator and the MD engines use them;
* :class:`RMaxGraph` — the cached ``r_max`` search: build, reuse, invalidate, build from a
  Verlet-skin list (:class:`SkinNeighborList`, kept across MD steps), prune;
* :class:`ModelGraph` — the tensors a backbone's ``node_energy`` receives.
"""

from .cutoff_spec import CUTOFFS_FORMAT, CUTOFFS_VERSION, CutoffSpec, load_cutoffs, save_cutoffs
from .cutoffs import BelowTrainedRangeWarning, CutoffsLike, resolve_cutoffs, validate_cutoff
from .edge_rules import EDGE_RULES, check_edge_rule, compute_edge_cutoff
from .model_cutoffs import per_atom_cutoffs, prepare_cutoffs
from .model_graph import ModelGraph
from .rmax_graph import CACHE_KEYS, PrunedGraph, RMaxGraph
from .skin_list import SkinNeighborList
from .structure import graph_assignment, periodic_cell

__all__ = [
    "EDGE_RULES",
    "check_edge_rule",
    "compute_edge_cutoff",
    "CutoffSpec",
    "CutoffsLike",
    "load_cutoffs",
    "save_cutoffs",
    "CUTOFFS_FORMAT",
    "CUTOFFS_VERSION",
    "resolve_cutoffs",
    "validate_cutoff",
    "BelowTrainedRangeWarning",
    "prepare_cutoffs",
    "per_atom_cutoffs",
    "SkinNeighborList",
    "RMaxGraph",
    "PrunedGraph",
    "CACHE_KEYS",
    "ModelGraph",
    "graph_assignment",
    "periodic_cell",
]
