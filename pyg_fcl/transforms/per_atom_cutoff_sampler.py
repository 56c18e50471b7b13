"""Random per-atom cutoffs for flexible-cutoff training."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..graph.structure import graph_assignment

__all__ = ["PerAtomCutoffSampler"]

SAMPLER_MODES = ("atom", "structure", "element", "mixture")
_BASE_MODES = ("atom", "structure", "element")
_DEFAULT_MIXTURE = {"atom": 0.5, "structure": 0.25, "element": 0.25}


class PerAtomCutoffSampler(BaseTransform):
    r"""Writes fresh random per-atom cutoffs ``data.cutoff`` ``[num_nodes]`` on every call.

    Values are uniform in ``[r_min, r_max]`` (the FCL paper: 3.5-7.0 Å), drawn

    * ``"atom"``: independently for every atom;
    * ``"structure"``: once per structure (per graph of a ``Batch``);
    * ``"element"``: once per element present in each structure (needs ``data.z``);
    * ``"mixture"``: with one of the modes above chosen per structure, with the probabilities
      ``mixture`` (default ``{"atom": 0.5, "structure": 0.25, "element": 0.25}``).

    With probability ``p_rmax`` a structure instead gets ``r_max`` on every atom, as models are
    often deployed there. Draws come from a CPU ``torch.Generator`` (the same numbers on any
    device); :meth:`state_dict` / :meth:`load_state_dict` save and restore it, so a resumed
    run draws the same cutoffs. The result has the dtype and device of ``data.pos``.

    Args:
        r_min (float): smallest cutoff (Å), ``0 < r_min <= r_max``.
        r_max (float): largest cutoff (Å).
        mode (str): ``"atom"``, ``"structure"``, ``"element"`` or ``"mixture"``.
        seed (int, optional): seed of a private generator.
        generator (torch.Generator, optional): a CPU generator to draw from (not with ``seed``).
            Without either, a private generator is seeded from torch's global RNG.
        mixture (dict, optional): non-negative weights per base mode (normalised); only with
            ``mode="mixture"``.
        p_rmax (float): probability that a structure gets ``r_max`` everywhere (default 0).
    """

    def __init__(
        self,
        r_min: float,
        r_max: float,
        mode: str = "atom",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        mixture: dict[str, float] | None = None,
        p_rmax: float = 0.0,
    ) -> None:
        r_min, r_max = float(r_min), float(r_max)
        if not (math.isfinite(r_min) and math.isfinite(r_max) and 0 < r_min <= r_max):
            raise ValueError(
                f"PerAtomCutoffSampler needs finite 0 < r_min <= r_max, got r_min={r_min!r}, "
                f"r_max={r_max!r}"
            )
        if mode not in SAMPLER_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes are {', '.join(SAMPLER_MODES)}")
        if mixture is not None and mode != "mixture":
            raise ValueError(f"mixture={mixture!r} is only used with mode='mixture', not {mode!r}")
        if not 0.0 <= float(p_rmax) <= 1.0:
            raise ValueError(f"p_rmax must be in [0, 1], got p_rmax={p_rmax!r}")
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator, got device {generator.device}")
        self.r_min, self.r_max, self.mode, self.p_rmax = r_min, r_max, mode, float(p_rmax)
        self.seed = seed
        self.mixture = _check_mixture(mixture or _DEFAULT_MIXTURE) if mode == "mixture" else None
        if generator is None:
            generator = torch.Generator()
            if seed is None:
                seed = int(torch.randint(0, 2**62, ()))
            generator.manual_seed(int(seed))
        self.generator = generator

    def _uniform(self, n: int) -> Tensor:
        u = torch.rand(n, generator=self.generator, dtype=torch.float64)
        return (self.r_min + (self.r_max - self.r_min) * u).clamp(max=self.r_max)

    def forward(self, data: Data) -> Data:
        batch, num_graphs = graph_assignment(data)
        batch = batch.cpu()
        modes = (self.mode,)
        if self.mode == "mixture":
            weights = torch.tensor([self.mixture[m] for m in _BASE_MODES], dtype=torch.float64)
            choice = torch.multinomial(weights, num_graphs, True, generator=self.generator)
            modes = tuple(m for m, w in zip(_BASE_MODES, weights) if w > 0)
        drawn = {}
        if "atom" in modes:
            drawn["atom"] = self._uniform(batch.numel())
        if "structure" in modes:
            drawn["structure"] = self._uniform(num_graphs)[batch]
        if "element" in modes:
            if "z" not in data or data.z is None:
                raise ValueError(f"PerAtomCutoffSampler(mode={self.mode!r}) needs data.z")
            z = data.z.cpu().long()
            key = batch * (int(z.max()) + 1 if z.numel() else 1) + z
            unique, inverse = torch.unique(key, return_inverse=True)
            drawn["element"] = self._uniform(unique.numel())[inverse]
        if self.mode == "mixture":
            cutoff = torch.empty(batch.numel(), dtype=torch.float64)
            atom_choice = choice[batch]
            for k, m in enumerate(_BASE_MODES):
                if m in drawn:
                    sel = atom_choice == k
                    cutoff[sel] = drawn[m][sel]
        else:
            cutoff = drawn[self.mode]
        if self.p_rmax > 0:
            at_rmax = torch.rand(num_graphs, generator=self.generator, dtype=torch.float64)
            cutoff = torch.where((at_rmax < self.p_rmax)[batch], self.r_max, cutoff)
        pos = data.pos if "pos" in data else None
        dtype = pos.dtype if pos is not None else torch.get_default_dtype()
        data.cutoff = cutoff.to(dtype=dtype, device=pos.device if pos is not None else None)
        return data

    def state_dict(self) -> dict[str, Any]:
        """The generator state (a ``ByteTensor``), to save with a training checkpoint."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator state saved by :meth:`state_dict`."""
        if "generator" not in state:
            raise ValueError(f"sampler state has no 'generator' entry (keys: {sorted(state)})")
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        args = f"r_min={self.r_min}, r_max={self.r_max}, mode={self.mode!r}"
        if self.mixture is not None:
            args += f", mixture={self.mixture}"
        if self.p_rmax:
            args += f", p_rmax={self.p_rmax}"
        if self.seed is not None:
            args += f", seed={self.seed}"
        return f"{self.__class__.__name__}({args})"


def _check_mixture(mixture: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(mixture) - set(_BASE_MODES))
    if unknown:
        raise ValueError(f"mixture has unknown modes {unknown}; valid: {', '.join(_BASE_MODES)}")
    weights = {m: float(mixture.get(m, 0.0)) for m in _BASE_MODES}
    if any(not math.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"mixture weights must be finite, >= 0 and not all 0, got {mixture!r}")
    total = sum(weights.values())
    return {m: w / total for m, w in weights.items()}
