"""Smooth cutoff envelopes ``u(r, r_c)``, differentiable in the distance and in the cutoff.

The polynomial envelope is the one of DimeNet and MACE (Klicpera et al., 2020):

.. math::
    u(x) = 1 - \\frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \\frac{p(p+1)}{2} x^{p+2},
    \\qquad x = r / r_c,

for ``x < 1`` and exactly ``0`` beyond. It satisfies ``u(0) = 1`` and ``u = u' = u'' = 0`` at
``x = 1``, so energies and forces stay continuous when an edge crosses its cutoff, and it is smooth
in ``r_c`` too, which is what post-training cutoff optimization differentiates through.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PolynomialEnvelope", "CosineEnvelope", "polynomial_envelope", "cosine_envelope"]


def _ratio(r: Tensor, r_c: Tensor | float) -> Tensor:
    # x clamped to [0, 1]: no overflow or NaN far beyond the cutoff, even in float32.
    return (r / r_c).clamp(min=0.0, max=1.0)


def _cut(u: Tensor, r: Tensor, r_c: Tensor | float) -> Tensor:
    # Exactly 0, with exactly zero derivatives (of any order, in r and r_c), for r >= r_c.
    return torch.where(r < r_c, u, torch.zeros((), dtype=u.dtype, device=u.device))


def polynomial_envelope(r: Tensor, r_c: Tensor | float, p: int = 5) -> Tensor:
    """Polynomial envelope ``u(r / r_c)`` (DimeNet/MACE form).

    Args:
        r (Tensor): distances ``[num_edges]`` (any shape).
        r_c (Tensor or float): cutoffs, broadcastable to ``r``.
        p (int): polynomial order (5 as in MACE and the FCL paper).

    Returns:
        Tensor: envelope values, same shape as ``r``; ``0`` for ``r >= r_c``.
    """
    x = _ratio(r, r_c)
    xp = x.pow(p)
    u = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
    return _cut(u, r, r_c)


def cosine_envelope(r: Tensor, r_c: Tensor | float) -> Tensor:
    """Cosine envelope ``0.5 (cos(pi r / r_c) + 1)`` (Behler); ``u = u' = 0`` at ``r_c``.

    Args:
        r (Tensor): distances ``[num_edges]`` (any shape).
        r_c (Tensor or float): cutoffs, broadcastable to ``r``.

    Returns:
        Tensor: envelope values, same shape as ``r``; ``0`` for ``r >= r_c``.
    """
    return _cut(0.5 * (torch.cos(math.pi * _ratio(r, r_c)) + 1.0), r, r_c)


class PolynomialEnvelope(nn.Module):
    """Polynomial envelope module, ``forward(r, r_c) -> u``.

    Args:
        p (int): polynomial order, ``p >= 2`` (default 5).
    """

    def __init__(self, p: int = 5) -> None:
        super().__init__()
        if int(p) != p or p < 2:
            raise ValueError(f"PolynomialEnvelope: p must be an integer >= 2, got p={p!r}")
        self.p = int(p)

    def forward(self, r: Tensor, r_c: Tensor | float) -> Tensor:
        """Args: r (Tensor): ``[num_edges]``; r_c (Tensor or float): ``[num_edges]`` or scalar."""
        return polynomial_envelope(r, r_c, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class CosineEnvelope(nn.Module):
    """Cosine envelope module, ``forward(r, r_c) -> u`` (C1 at the cutoff, not C2)."""

    def forward(self, r: Tensor, r_c: Tensor | float) -> Tensor:
        """Args: r (Tensor): ``[num_edges]``; r_c (Tensor or float): ``[num_edges]`` or scalar."""
        return cosine_envelope(r, r_c)
