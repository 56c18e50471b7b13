"""Symmetry and consistency checks: rotation, reflection, translation, permutation, batching,
periodic images, extensivity."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor

from .structures import Structure, as_structure, close, run, run_batch, tolerances

__all__ = [
    "assert_rotation_equivariant",
    "assert_translation_invariant",
    "assert_permutation_equivariant",
    "assert_batch_consistent",
    "assert_periodic_image_invariant",
    "assert_extensive",
]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def random_rotation(generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    """A random proper rotation ``[3, 3]`` (QR of a Gaussian matrix, det +1)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q = -q
    return q.to(dtype)


def _compare(
    where: str,
    out: dict,
    expected: dict,
    atol: float,
    rtol: float,
    keys: Sequence[str] = ("energy", "node_energy", "forces", "stress"),
) -> None:
    for key in keys:
        if key in expected and key in out:
            close(key, out[key], expected[key], atol, rtol, where)
        elif key in ("energy", "forces") and key not in out:
            raise AssertionError(f"{where}: the model returned no {key!r}")


def assert_rotation_equivariant(
    model, structure, cutoff=None, *, reflection: bool = True, seed: int = 0, atol=None, rtol=None
) -> None:
    """Energy invariant; forces ``F R^T`` and stress ``R sigma R^T`` under rotations of positions
    and cell (and under a reflection, the rotation times ``-1``, when ``reflection``)."""
    s = as_structure(model, structure, cutoff)
    atol, rtol = tolerances(model, atol, rtol)
    stress = s.periodic
    ref = run(model, s, stress)
    rot = random_rotation(_generator(seed), s.pos.dtype)
    for label, m in [("rotation", rot)] + ([("reflection", -rot)] if reflection else []):
        out = run(model, s.with_(pos=s.pos @ m.T, cell=s.cell @ m.T), stress)
        expected = dict(ref, forces=ref["forces"] @ m.T)
        if stress:
            expected["stress"] = m @ ref["stress"] @ m.T
        _compare(f"{label} of {s.name}", out, expected, atol, rtol)


def assert_translation_invariant(
    model, structure, cutoff=None, *, seed: int = 0, atol=None, rtol=None
) -> None:
    """Energies, forces and stress unchanged when every atom moves by the same random vector."""
    s = as_structure(model, structure, cutoff)
    atol, rtol = tolerances(model, atol, rtol)
    shift = 3.0 * torch.randn(3, generator=_generator(seed), dtype=torch.float64).to(s.pos.dtype)
    ref = run(model, s, s.periodic)
    out = run(model, s.with_(pos=s.pos + shift), s.periodic)
    _compare(f"translation of {s.name}", out, ref, atol, rtol)


def assert_permutation_equivariant(
    model, structure, cutoff=None, *, seed: int = 0, atol=None, rtol=None
) -> None:
    """Atoms in a random order (with their cutoffs) give permuted per-atom outputs."""
    s = as_structure(model, structure, cutoff)
    atol, rtol = tolerances(model, atol, rtol)
    perm = torch.randperm(s.num_atoms, generator=_generator(seed))
    ref = run(model, s, s.periodic)
    out = run(model, s.with_(z=s.z[perm], pos=s.pos[perm], cutoff=s.cutoff[perm]), s.periodic)
    expected = dict(ref, forces=ref["forces"][perm])
    if "node_energy" in ref:
        expected["node_energy"] = ref["node_energy"][perm]
    _compare(f"permutation of {s.name}", out, expected, atol, rtol)


def assert_batch_consistent(model, structures, cutoffs=None, *, atol=None, rtol=None) -> None:
    """One ``Batch`` of several structures gives what each structure gives alone.

    Args:
        structures: a list of structures; ``cutoffs``: ``None`` or one entry per structure.
    """
    if cutoffs is None:
        cutoffs = [None] * len(structures)
    if len(cutoffs) != len(structures):
        raise ValueError(f"got {len(cutoffs)} cutoffs for {len(structures)} structures")
    ss = [as_structure(model, st, c) for st, c in zip(structures, cutoffs)]
    atol, rtol = tolerances(model, atol, rtol)
    stress = all(s.periodic for s in ss)
    batched = run_batch(model, ss, stress)
    where = f"batch of {[s.name for s in ss]}"
    singles = [run(model, s, stress) for s in ss]
    close("energy", batched["energy"], torch.cat([o["energy"] for o in singles]), atol, rtol, where)
    close("forces", batched["forces"], torch.cat([o["forces"] for o in singles]), atol, rtol, where)
    if "node_energy" in batched:
        expected = torch.cat([o["node_energy"] for o in singles])
        close("node_energy", batched["node_energy"], expected, atol, rtol, where)
    if stress:
        expected = torch.cat([o["stress"] for o in singles])
        close("stress", batched["stress"], expected, atol, rtol, where)


def assert_periodic_image_invariant(
    model, structure, cutoff=None, *, seed: int = 0, atol=None, rtol=None
) -> None:
    """Moving atoms by random lattice vectors (periodic directions only) changes nothing."""
    s = as_structure(model, structure, cutoff)
    if not bool(s.pbc.any()):
        raise ValueError(f"{s.name}: periodic-image check needs a periodic structure")
    atol, rtol = tolerances(model, atol, rtol)
    n = torch.randint(-2, 3, (s.num_atoms, 3), generator=_generator(seed)) * s.pbc
    wrapped = s.pos + n.to(s.pos.dtype) @ s.cell
    ref = run(model, s, s.periodic)
    out = run(model, s.with_(pos=wrapped), s.periodic)
    _compare(f"periodic images of {s.name}", out, ref, atol, rtol)


def supercell(s: Structure, reps: tuple[int, int, int] = (2, 2, 2)) -> Structure:
    """Repeat a periodic structure; per-atom cutoffs are tiled with the atoms."""
    offsets = torch.tensor(list(itertools.product(*(range(r) for r in reps))), dtype=s.pos.dtype)
    pos = (s.pos.unsqueeze(0) + (offsets @ s.cell).unsqueeze(1)).reshape(-1, 3)
    k = len(offsets)
    return s.with_(
        z=s.z.repeat(k),
        pos=pos,
        cell=s.cell * torch.tensor(reps, dtype=s.pos.dtype).unsqueeze(1),
        cutoff=s.cutoff.repeat(k),
        name=f"{s.name} x{reps}",
    )


def assert_extensive(model, structure, cutoff=None, *, atol=None, rtol=None) -> None:
    """The 2x2x2 supercell has 8x the energy, tiled forces and per-atom energies, equal stress."""
    s = as_structure(model, structure, cutoff)
    if not s.periodic:
        raise ValueError(f"{s.name}: extensivity check needs a fully periodic structure")
    atol, rtol = tolerances(model, atol, rtol)
    ref = run(model, s, True)
    out = run(model, supercell(s), True)
    expected = {
        "energy": 8 * ref["energy"],
        "forces": ref["forces"].repeat(8, 1),
        "stress": ref["stress"],
    }
    if "node_energy" in ref:
        expected["node_energy"] = ref["node_energy"].repeat(8)
    _compare(f"2x2x2 supercell of {s.name}", out, expected, 8 * atol, rtol)
