"""``run_all_checks``: every check of :mod:`pyg_fcl.testing` on a list of structures."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .derivatives import (
    assert_cutoff_gradients_match_finite_differences,
    assert_forces_match_finite_differences,
    assert_stress_matches_finite_differences,
)
from .invariance import (
    assert_batch_consistent,
    assert_extensive,
    assert_periodic_image_invariant,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    assert_translation_invariant,
)
from .smoothness import assert_pruning_exact, assert_smooth_at_edge_cutoff, assert_smooth_in_cutoff
from .structures import Structure, as_structure, model_dtype

__all__ = ["ALL_CHECKS", "random_cutoffs", "run_all_checks"]

#: Per-structure checks by name, and whether each needs a (fully) periodic structure.
ALL_CHECKS = {
    "rotation": (assert_rotation_equivariant, False),
    "translation": (assert_translation_invariant, False),
    "permutation": (assert_permutation_equivariant, False),
    "periodic_images": (assert_periodic_image_invariant, True),
    "extensive": (assert_extensive, True),
    "forces_fd": (assert_forces_match_finite_differences, False),
    "stress_fd": (assert_stress_matches_finite_differences, True),
    "cutoff_gradients_fd": (assert_cutoff_gradients_match_finite_differences, False),
    "smooth_at_edge_cutoff": (assert_smooth_at_edge_cutoff, False),
    "smooth_in_cutoff": (assert_smooth_in_cutoff, False),
    "pruning_exact": (assert_pruning_exact, False),
}
_BATCH = "batch"


def random_cutoffs(
    model, num_atoms: int, seed: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """Per-atom cutoffs ``[num_atoms]`` uniform in the model's ``[r_min, r_max]`` (its dtype)."""
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    r_max = float(model.r_max)
    r_min = float(getattr(model, "r_min", r_max))
    u = torch.rand(num_atoms, generator=generator, dtype=torch.float64)
    return (r_min + (r_max - r_min) * u).to(model_dtype(model))


def run_all_checks(
    model,
    structures: Sequence,
    cutoffs: str | Sequence | None = "random",
    *,
    checks: Sequence[str] | None = None,
    seed: int = 0,
    options: dict[str, dict] | None = None,
) -> list[tuple[str, str]]:
    """Run every check of :mod:`pyg_fcl.testing` on each structure (and one batch of all).

    Args:
        model: the model under test.
        structures: ``Data`` objects or ``ase.Atoms``.
        cutoffs: ``"random"`` (uniform in ``[r_min, r_max]`` per atom, seeded), ``None``
            (``data.cutoff`` or ``r_max``), or one cutoff tensor / float per structure.
        checks: names from :data:`ALL_CHECKS` and ``"batch"`` (default: all). Checks that need
            a periodic structure are skipped for the others.
        seed (int): seed of the random cutoffs and of the checks' own randomness.
        options: extra keyword arguments per check name, e.g. ``{"forces_fd": {"atol": 1e-4}}``.

    Returns:
        list: ``(structure name, check name)`` of every check that ran.

    Raises:
        AssertionError: the first failing check, its message prefixed with the check's name.
    """
    names = list(ALL_CHECKS) + [_BATCH] if checks is None else list(checks)
    unknown = sorted(set(names) - set(ALL_CHECKS) - {_BATCH})
    if unknown:
        raise ValueError(f"unknown checks {unknown}; valid: {list(ALL_CHECKS) + [_BATCH]}")
    options = options or {}
    generator = torch.Generator().manual_seed(int(seed))
    prepared: list[Structure] = []
    for k, structure in enumerate(structures):
        s = as_structure(model, structure)
        if isinstance(cutoffs, str):
            if cutoffs != "random":
                raise ValueError(f"cutoffs must be 'random', None or a sequence, got {cutoffs!r}")
            s = s.with_(cutoff=random_cutoffs(model, s.num_atoms, generator=generator))
        elif cutoffs is not None:
            s = as_structure(model, s, cutoffs[k])
        prepared.append(s.with_(name=f"[{k}] {s.name}"))
    ran = []
    for s in prepared:
        for name in names:
            if name == _BATCH:
                continue
            check, needs_periodic = ALL_CHECKS[name]
            if needs_periodic and not s.periodic:
                continue
            kwargs = dict(options.get(name, {}))
            if "seed" in check.__code__.co_varnames:
                kwargs.setdefault("seed", seed)
            try:
                check(model, s, **kwargs)
            except AssertionError as err:
                raise AssertionError(f"check {name!r} failed: {err}") from err
            ran.append((s.name, name))
    if _BATCH in names and len(prepared) > 1:
        try:
            assert_batch_consistent(model, prepared, **options.get(_BATCH, {}))
        except AssertionError as err:
            raise AssertionError(f"check 'batch' failed: {err}") from err
        ran.append(("all", _BATCH))
    return ran
