"""Physics checks any pyg-fcl model can run in its own tests (like e3nn's ``assert_equivariant``).

Every `assert_*` function takes a model (an `FCLModel`, or any module with the
same ``forward(data, compute_stress=False) -> {"energy", "forces", ["node_energy", "stress"]}``)
and a structure (a PyG ``Data`` with ``z``, ``pos``, ``cell``, ``pbc`` or an ``ase.Atoms``), plus
optional per-atom cutoffs (``cutoff``: ``[num_nodes]`` tensor, a float, or ``None`` for
``data.cutoff`` / ``r_max``). It raises `AssertionError` with the offending numbers, and
returns nothing. Each check runs the model on freshly built ``Data`` objects (never on a cached
``r_max`` graph of moved atoms), in the model's floating-point dtype.

Checks, each against an independent reference:

| check | reference |
|---|---|
| `assert_rotation_equivariant` | rotated and reflected copies (energy, forces, stress) |
| `assert_translation_invariant` | a rigidly shifted copy |
| `assert_permutation_equivariant` | the atoms in a random order |
| `assert_batch_consistent` | each structure run alone vs one `Batch` |
| `assert_periodic_image_invariant` | atoms wrapped by random lattice vectors |
| `assert_extensive` | the 2x2x2 supercell (cutoffs tiled): 8x energy |
| `assert_forces_match_finite_differences` | central differences of the energy in positions |
| `assert_stress_matches_finite_differences` | central differences in a symmetric strain |
| `assert_cutoff_gradients_match_finite_differences` | d(energy)/d(cutoff), d(forces)/d(cutoff) |
| `assert_smooth_at_edge_cutoff` | energy and forces as a neighbour crosses its edge cutoff |
| `assert_smooth_in_cutoff` | energy and forces as a cutoff sweeps past a neighbour |
| `assert_pruning_exact` | pruned graph == `r_max` graph with the envelope alone |

`run_all_checks` runs them all on a list of structures with random per-atom cutoffs, e.g. in a
backbone's own test file::

    from pyg_fcl import read_structures, testing

    def test_my_backbone_physics():
        model = MyBackbone(r_max=5.0, r_min=3.0, elements=[1, 6, 7, 8]).double().eval()
        crystals = read_structures("crystals.xyz", index=":3")
        testing.run_all_checks(model, crystals, seed=0)

Smoothness and finite-difference checks need float64 to be sharp; the others work in float32
with looser tolerances (the defaults follow the model's dtype). The pruning check calls
``model(data, prune=False)`` when ``forward`` takes ``prune``, else makes ``model.prepare`` keep
the ``r_max`` graph for one call.
"""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager

from ._testing.derivatives import (
    assert_cutoff_gradients_match_finite_differences,
    assert_forces_match_finite_differences,
    assert_stress_matches_finite_differences,
)
from ._testing.invariance import (
    assert_batch_consistent,
    assert_extensive,
    assert_periodic_image_invariant,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    assert_translation_invariant,
)
from ._testing.runner import ALL_CHECKS, random_cutoffs, run_all_checks
from ._testing.smoothness import (
    assert_pruning_exact,
    assert_smooth_at_edge_cutoff,
    assert_smooth_in_cutoff,
)
from .graph import BelowTrainedRangeWarning

__all__ = [
    "assert_rotation_equivariant",
    "assert_translation_invariant",
    "assert_permutation_equivariant",
    "assert_batch_consistent",
    "assert_periodic_image_invariant",
    "assert_extensive",
    "assert_forces_match_finite_differences",
    "assert_stress_matches_finite_differences",
    "assert_cutoff_gradients_match_finite_differences",
    "assert_smooth_at_edge_cutoff",
    "assert_smooth_in_cutoff",
    "assert_pruning_exact",
    "random_cutoffs",
    "run_all_checks",
    "ALL_CHECKS",
]


@contextmanager
def allow_extrapolation(model):
    """Let ``model`` take cutoffs below its trained ``r_min`` inside the block, silently.

    The checks probe the model's mathematics (smoothness, symmetry, derivatives) at any cutoff in
    ``(0, r_max]``, not only in the trained range; every check of this module runs inside it.
    """
    before = getattr(model, "allow_below_r_min", None)
    if before is not None:
        model.allow_below_r_min = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BelowTrainedRangeWarning)
            yield model
    finally:
        if before is not None:
            model.allow_below_r_min = before


def _extrapolating(check):
    @functools.wraps(check)
    def wrapper(model, *args, **kwargs):
        with allow_extrapolation(model):
            return check(model, *args, **kwargs)

    return wrapper


for _name in [n for n in __all__ if n.startswith("assert_")] + ["run_all_checks"]:
    globals()[_name] = _extrapolating(globals()[_name])
__all__.append("allow_extrapolation")
