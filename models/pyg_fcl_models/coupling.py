"""Symmetric coupling bases: the equivariant maps from ``Sym^nu(V)`` to an irrep ``L``.

``V = 0e + 1o + ... + l_max`` (the parities of spherical harmonics, dimension
``D = (l_max + 1)^2``) is the space of one channel of MACE's atomic basis ``A``. The many-body
product of correlation order ``nu`` needs every linear equivariant map

.. math::
    U: V^{\\otimes \\nu} \\to L, \\qquad B_M = \\sum_{i_1 \\dots i_\\nu}
    U_{M i_1 \\dots i_\\nu} A_{i_1} \\cdots A_{i_\\nu}.

MACE (``mace.tools.cg.U_matrix_real``) takes all coupling trees
``((l_1 \\otimes l_2)_{l_{12}} \\otimes l_3)_{L} \\dots`` built from Wigner 3j symbols. They span
``Hom(V^{\\otimes\\nu}, L)``, but as ``A^{\\otimes \\nu}`` is symmetric only their symmetric
parts act, and many trees share one. Here each tree is symmetrised over the ``nu!``
permutations of its inputs, and Gram-Schmidt (twice, for stability) keeps an orthonormal basis of
their span. That span is all of ``Hom(Sym^nu V, L)``, so the function space equals MACE's with
fewer, independent weights (for ``l_max = 3``, ``nu = 3``: 8 instead of 23 for ``0e``, 12 instead
of 51 for ``1o``). Linear combinations of equivariant maps to one ``L`` are equivariant, so every
basis element is. The construction is deterministic (fixed tree order, float64).
"""

from __future__ import annotations

import functools
import itertools

import torch
from e3nn import o3

__all__ = ["symmetric_coupling_basis", "symmetric_pairs"]

_REL_TOL = 1e-6


@functools.cache
def _w3j(l1: int, l2: int, l3: int) -> torch.Tensor:
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64)


def _trees(
    l_max: int, nu: int, final: tuple[int, ...]
) -> list[tuple[tuple[int, ...], int, torch.Tensor]]:
    """Coupling trees ``(ls, L, T)``; ``T`` has shape ``[2 l_1 + 1, ..., 2 l_nu + 1, 2 L + 1]``."""
    ls = range(l_max + 1)
    if nu == 1:
        return [((l,), l, torch.eye(2 * l + 1, dtype=torch.float64)) for l in ls if l in final]
    inner = _trees(l_max, nu - 1, tuple(range(l_max * (nu - 1) + 1)))
    out = []
    for ls_prev, l_prev, t_prev in inner:
        for l in ls:
            for big_l in range(abs(l_prev - l), l_prev + l + 1):
                if big_l not in final:
                    continue
                w = _w3j(l_prev, l, big_l).reshape(2 * l_prev + 1, -1)
                t = (t_prev.reshape(-1, 2 * l_prev + 1) @ w).reshape(
                    t_prev.shape[:-1] + (2 * l + 1, 2 * big_l + 1)
                )
                out.append((ls_prev + (l,), big_l, t))
    return out


@functools.cache
def _basis(l_max: int, big_l: int, parity: int, nu: int) -> torch.Tensor:
    # Many tiny ops: one thread is ~50x faster than two on a busy machine (spin-waits).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _basis_impl(l_max, big_l, parity, nu)
    finally:
        torch.set_num_threads(threads)


def _basis_impl(l_max: int, big_l: int, parity: int, nu: int) -> torch.Tensor:
    dim = (l_max + 1) ** 2
    blocks = [slice(l * l, (l + 1) ** 2) for l in range(l_max + 1)]
    vectors = []
    for ls, l_out, t in _trees(l_max, nu, (big_l,)):
        if l_out != big_l or (-1) ** sum(ls) != parity:
            continue
        full = torch.zeros((2 * big_l + 1,) + (dim,) * nu, dtype=torch.float64)
        full[(slice(None),) + tuple(blocks[l] for l in ls)] = t.movedim(-1, 0)
        sym = sum(
            full.permute(0, *(1 + p for p in perm)) for perm in itertools.permutations(range(nu))
        )
        # scale: the norm of the unsymmetrised tree (an antisymmetric tree symmetrises to noise)
        vectors.append((sym.reshape(-1), full.norm()))
    basis: list[torch.Tensor] = []
    for v, scale in vectors:
        for _ in range(2):  # Gram-Schmidt, re-orthogonalised once
            for b in basis:
                v = v - (b @ v) * b
        if v.norm() > _REL_TOL * scale:
            basis.append(v / v.norm())
    if vectors:
        rank = int(torch.linalg.matrix_rank(torch.stack([v for v, _ in vectors])))
        if rank != len(basis):  # pragma: no cover - numerical safeguard
            raise RuntimeError(f"coupling basis rank {rank} != {len(basis)} (L={big_l}, nu={nu})")
    if not basis:
        return torch.zeros((0, 2 * big_l + 1) + (dim,) * nu, dtype=torch.float64)
    return torch.stack(basis).reshape((len(basis), 2 * big_l + 1) + (dim,) * nu)


def symmetric_coupling_basis(l_max: int, big_l: int, parity: int, nu: int) -> torch.Tensor:
    """Orthonormal basis of the equivariant maps ``Sym^nu(V) -> (L, parity)``.

    Args:
        l_max (int): ``V = 0e + 1o + ... + l_max`` (spherical-harmonic parities).
        big_l (int): output degree ``L``.
        parity (int): output parity, ``1`` (even) or ``-1`` (odd).
        nu (int): correlation order (number of factors), ``>= 1``.

    Returns:
        Tensor: ``[num_paths, 2L+1, D, ..., D]`` (``nu`` times ``D = (l_max+1)^2``), float64,
        each path symmetric in its ``D`` indices, orthonormal as flattened vectors.
    """
    if nu < 1 or l_max < 0 or big_l < 0 or parity not in (1, -1):
        raise ValueError(f"invalid coupling: l_max={l_max}, L={big_l}, parity={parity}, nu={nu}")
    return _basis(int(l_max), int(big_l), int(parity), int(nu)).clone()


def symmetric_pairs(dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index pairs ``j <= k`` of a symmetric ``[dim, dim]`` tensor and their multiplicity.

    Returns:
        tuple: ``first`` ``[P]``, ``second`` ``[P]`` (long) and ``multiplicity`` ``[P]`` (1 on the
        diagonal, 2 off it), ``P = dim (dim + 1) / 2``.
    """
    first, second = torch.triu_indices(dim, dim)
    multiplicity = torch.where(first == second, 1.0, 2.0).to(torch.float64)
    return first, second, multiplicity
