"""Parametrizations of per-atom cutoffs for post-training optimization.

Every parametrization maps unconstrained parameters ``theta`` to cutoffs inside the range the
model was trained on::

    r_c = r_min + (r_max - r_min) * sigmoid(theta)

so gradient descent can never leave ``(r_min, r_max)`` (the FCL paper's optimizer could, and found
cutoffs below the trained range). Three granularities:

* :class:`PerElementCutoffs` — one cutoff per element (the paper's choice); transfers to any
  structure made of the same elements, supercells included;
* :class:`PerAtomCutoffs` — one cutoff per atom of one system (all target structures share the
  same atoms in the same order, e.g. frames of a trajectory);
* :class:`GlobalCutoff` — one cutoff for every atom.

Each module's ``forward(z)`` returns the per-atom cutoffs ``[num_nodes]`` for atomic numbers ``z``
(for :class:`PerAtomCutoffs`, ``z`` of a batch of frames of the system), and ``spec()`` the
:class:`~pyg_fcl.data.CutoffSpec` to save.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..graph import CutoffSpec

__all__ = [
    "CutoffParametrization",
    "PerElementCutoffs",
    "PerAtomCutoffs",
    "GlobalCutoff",
    "make_parametrization",
    "PARAMETRIZATIONS",
]

PARAMETRIZATIONS: tuple[str, ...] = ("element", "atom", "global")
# Inverse sigmoid of an initial cutoff is clamped to +-_THETA_MAX: a cutoff exactly at r_max
# (sigmoid = 1) would need theta = +inf and have zero gradient.
_THETA_MAX = 4.0


class CutoffParametrization(nn.Module):
    """Base class: holds ``theta`` and maps it into ``(r_min, r_max)``.

    Args:
        r_min (float): smallest cutoff the model was trained with (Å).
        r_max (float): largest cutoff (Å).
        size (int): number of parameters.
        init (float): initial cutoff (Å); clamped so ``|theta| <= 4`` (within 1.8 % of the range
            ends), since the ends themselves are only reached at infinite ``theta``.
    """

    def __init__(self, r_min: float, r_max: float, size: int, init: float) -> None:
        super().__init__()
        r_min, r_max = float(r_min), float(r_max)
        if not (0 < r_min < r_max):
            raise ValueError(
                f"cutoff optimization needs a model trained on a cutoff range, 0 < r_min < r_max; "
                f"got r_min={r_min}, r_max={r_max}"
            )
        if not (r_min <= init <= r_max):
            raise ValueError(
                f"initial cutoff {init} is outside the trained range [{r_min}, {r_max}]"
            )
        self.r_min = r_min
        self.r_max = r_max
        frac = (float(init) - r_min) / (r_max - r_min)
        theta = (
            math.log(frac / (1 - frac)) if 0 < frac < 1 else math.copysign(_THETA_MAX, frac - 0.5)
        )
        theta = max(-_THETA_MAX, min(_THETA_MAX, theta))
        self.theta = nn.Parameter(torch.full((size,), theta, dtype=torch.float64))

    def values(self) -> Tensor:
        """The cutoffs ``[size]`` (Å) the parameters stand for."""
        return self.r_min + (self.r_max - self.r_min) * torch.sigmoid(self.theta)

    @torch.no_grad()
    def set_values(self, values: Sequence[float]) -> None:
        """Set the parameters so that :meth:`values` returns ``values`` (Å), clamped so that
        ``|theta| <= 8`` (values at the range ends are moved just inside)."""
        target = torch.as_tensor(values, dtype=self.theta.dtype, device=self.theta.device)
        if target.shape != self.theta.shape:
            raise ValueError(
                f"got {target.numel()} cutoff values for {self.theta.numel()} parameters"
            )
        frac = (target - self.r_min) / (self.r_max - self.r_min)
        self.theta.copy_(torch.logit(frac.clamp(0.0, 1.0), eps=1e-12).clamp(-8.0, 8.0))

    def spec(self, **kwargs) -> CutoffSpec:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"r_min={self.r_min}, r_max={self.r_max}, size={self.theta.numel()}"


class PerElementCutoffs(CutoffParametrization):
    """One cutoff per element.

    Args:
        elements (Sequence[int]): atomic numbers to optimize a cutoff for.
        r_min, r_max, init: see :class:`CutoffParametrization`.
    """

    def __init__(self, elements: Sequence[int], r_min: float, r_max: float, init: float) -> None:
        elements = sorted({int(z) for z in elements})
        if not elements:
            raise ValueError("PerElementCutoffs needs at least one element")
        super().__init__(r_min, r_max, len(elements), init)
        self.elements = elements
        lookup = torch.full((max(elements) + 1,), -1, dtype=torch.long)
        lookup[elements] = torch.arange(len(elements))
        self.register_buffer("lookup", lookup, persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        """Per-atom cutoffs ``[num_nodes]`` for atomic numbers ``z`` ``[num_nodes]``."""
        idx = self.lookup[z.clamp(max=self.lookup.numel() - 1)]
        bad = (z >= self.lookup.numel()) | (idx < 0)
        if bool(bad.any()):
            atom = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"atom {atom} has element Z={int(z[atom])}, not among the optimized elements "
                f"{self.elements}"
            )
        return self.values()[idx]

    def spec(self, **kwargs) -> CutoffSpec:
        """The cutoffs as a per-element :class:`~pyg_fcl.data.CutoffSpec`."""
        values = self.values().detach().tolist()
        return CutoffSpec.from_elements(dict(zip(self.elements, values)), **kwargs)


class PerAtomCutoffs(CutoffParametrization):
    """One cutoff per atom of one system.

    Args:
        numbers (Sequence[int]): atomic numbers of the system's atoms, in order; every structure
            passed to ``forward`` (one frame, or a batch of frames) repeats them.
        r_min, r_max, init: see :class:`CutoffParametrization`.
    """

    def __init__(self, numbers: Sequence[int], r_min: float, r_max: float, init: float) -> None:
        numbers = [int(z) for z in numbers]
        if not numbers:
            raise ValueError("PerAtomCutoffs needs at least one atom")
        super().__init__(r_min, r_max, len(numbers), init)
        self.register_buffer("numbers", torch.tensor(numbers, dtype=torch.long), persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        """Per-atom cutoffs ``[num_nodes]``; ``z`` ``[k * num_atoms]`` holds ``k`` frames."""
        n = self.numbers.numel()
        if z.numel() % n or not torch.equal(z.view(-1, n), self.numbers.expand(z.numel() // n, n)):
            raise ValueError(
                f"per-atom cutoffs are for a system of {n} atoms with numbers "
                f"{self.numbers.tolist()[:8]}...; got a structure with {z.numel()} atoms "
                f"that does not repeat them"
            )
        return self.values().repeat(z.numel() // n)

    def spec(self, **kwargs) -> CutoffSpec:
        """The cutoffs as a per-atom :class:`~pyg_fcl.data.CutoffSpec` (with ``numbers``)."""
        return CutoffSpec.from_atoms(
            self.values().detach(), numbers=self.numbers.tolist(), **kwargs
        )


class GlobalCutoff(CutoffParametrization):
    """One cutoff for every atom. Args: see :class:`CutoffParametrization`."""

    def __init__(self, r_min: float, r_max: float, init: float) -> None:
        super().__init__(r_min, r_max, 1, init)

    def forward(self, z: Tensor) -> Tensor:
        """Per-atom cutoffs ``[num_nodes]``, all the same."""
        return self.values().expand(z.numel())

    def spec(self, **kwargs) -> CutoffSpec:
        """The cutoff as a global :class:`~pyg_fcl.data.CutoffSpec`."""
        return CutoffSpec.uniform(float(self.values().detach()[0]), **kwargs)


def make_parametrization(
    per: str, structures: Sequence, r_min: float, r_max: float, init: float
) -> CutoffParametrization:
    """The parametrization ``per`` (``"element"``, ``"atom"``, ``"global"``) for ``structures``.

    Raises:
        ValueError: unknown ``per``, or ``per="atom"`` with structures that are not frames of one
            system (different atoms; names the first structure that differs).
    """
    if per == "element":
        elements = sorted({int(z) for s in structures for z in s.z.tolist()})
        return PerElementCutoffs(elements, r_min, r_max, init)
    if per == "global":
        return GlobalCutoff(r_min, r_max, init)
    if per == "atom":
        first = structures[0].z
        for k, s in enumerate(structures):
            if not torch.equal(s.z, first):
                raise ValueError(
                    f"per-atom cutoffs need frames of one system (same atoms, same order); "
                    f"structure {k} has {s.z.numel()} atoms and differs from structure 0 "
                    f"({first.numel()} atoms)"
                )
        return PerAtomCutoffs(first.tolist(), r_min, r_max, init)
    raise ValueError(f"unknown parametrization per={per!r}; use one of {PARAMETRIZATIONS}")
