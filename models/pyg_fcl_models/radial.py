"""Cutoff-aware radial and node embeddings of the FCL-MACE model.

* :class:`BesselBasis` - MACE's radial basis on the fixed ``r_max``,
  ``b_n(r) = sqrt(2 / r_max) sin(n pi r / r_max) / r``.
* :class:`CutoffBasis` - a smooth expansion of a cutoff radius: Gaussians of
  ``t = (r_c - r_min) / (r_max - r_min)`` (``r_c / r_max`` for a fixed-cutoff model) on
  ``[0, 1]``. Used for the per-edge cutoff in the radial MLP and the per-atom cutoff embedding.
* :class:`RadialWeights` - the paper's modified radial network: an MLP of the Bessel features
  and the edge cutoff's expansion, times the envelope ``u(r / r_edge)``. It gives the per-edge
  weights of an interaction's tensor product, exactly zero for ``r >= r_edge``.
* :class:`AtomCutoffMLP` - MLP of an atom's cutoff features (the same :class:`CutoffBasis`
  expansion the edges use), added to its initial features. (pyg-fcl's
  :class:`~pyg_fcl.nn.CutoffEmbedding` embeds a raw cutoff for wrapped PyG backbones; this one
  shares the trained-range basis with the radial network.)

All are differentiable in the cutoffs (no in-place operations, no ``detach``), to second order.
"""

from __future__ import annotations

import math

import torch
from e3nn import nn as e3nn_nn
from torch import Tensor, nn

__all__ = ["BesselBasis", "CutoffBasis", "RadialWeights", "AtomCutoffMLP"]


class BesselBasis(nn.Module):
    """``sqrt(2 / r_max) sin(n pi r / r_max) / r`` for ``n = 1..num_basis`` (MACE's basis).

    Args:
        r_max (float): the fixed outer radius (Å).
        num_basis (int): number of functions.
    """

    def __init__(self, r_max: float, num_basis: int = 8) -> None:
        super().__init__()
        self.r_max = float(r_max)
        self.num_basis = int(num_basis)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.float64) * math.pi / r_max
        self.register_buffer("frequencies", freqs, persistent=False)
        self.prefactor = math.sqrt(2.0 / r_max)

    def forward(self, r: Tensor) -> Tensor:
        """Args: r (Tensor): ``[num_edges]`` lengths. Returns ``[num_edges, num_basis]``."""
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies.to(r.dtype) * r) / r

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, num_basis={self.num_basis}"


class CutoffBasis(nn.Module):
    """Gaussian expansion of a cutoff radius on the trained range.

    Args:
        r_min (float): smallest trained cutoff (maps to ``t = 0``).
        r_max (float): largest cutoff (maps to ``t = 1``); ``r_min == r_max`` uses ``r_c / r_max``.
        num_basis (int): number of Gaussians, centres evenly on ``[0, 1]``, width the spacing.
    """

    def __init__(self, r_min: float, r_max: float, num_basis: int = 8) -> None:
        super().__init__()
        if num_basis < 1:
            raise ValueError(f"CutoffBasis: num_basis must be >= 1, got {num_basis}")
        self.r_min, self.r_max, self.num_basis = float(r_min), float(r_max), int(num_basis)
        self.offset = self.r_min if r_max > r_min else 0.0
        self.span = (self.r_max - self.r_min) if r_max > r_min else self.r_max
        centres = torch.linspace(0.0, 1.0, num_basis, dtype=torch.float64)
        if num_basis == 1:
            centres = torch.ones(1, dtype=torch.float64)
        self.register_buffer("centres", centres, persistent=False)
        self.width = 1.0 / max(num_basis - 1, 1)

    def forward(self, r_c: Tensor) -> Tensor:
        """Args: r_c (Tensor): ``[n]`` cutoffs (Å). Returns: ``[n, num_basis]``."""
        t = (r_c.unsqueeze(-1) - self.offset) / self.span
        return torch.exp(-0.5 * ((t - self.centres.to(t.dtype)) / self.width) ** 2)

    def extra_repr(self) -> str:
        return f"r_min={self.r_min}, r_max={self.r_max}, num_basis={self.num_basis}"


class RadialWeights(nn.Module):
    """Per-edge tensor-product weights ``MLP([b(r), c(r_edge)]) * u(r / r_edge)``.

    Args:
        num_bessel (int): Bessel features (inputs).
        num_cutoff_basis (int): cutoff features (inputs).
        hidden (Sequence[int]): hidden widths of the MLP (MACE: ``[64, 64, 64]``).
        num_out (int): number of weights per edge.
    """

    def __init__(self, num_bessel: int, num_cutoff_basis: int, hidden, num_out: int) -> None:
        super().__init__()
        self.mlp = e3nn_nn.FullyConnectedNet(
            [num_bessel + num_cutoff_basis, *hidden, num_out], torch.nn.functional.silu
        )

    def forward(self, radial: Tensor, cutoff_features: Tensor, envelope: Tensor) -> Tensor:
        """Args:
            radial (Tensor): ``[num_edges, num_bessel]``.
            cutoff_features (Tensor): ``[num_edges, num_cutoff_basis]``.
            envelope (Tensor): ``[num_edges]`` ``u(r / r_edge)``.

        Returns:
            Tensor: ``[num_edges, num_out]``.
        """
        return self.mlp(torch.cat([radial, cutoff_features], dim=-1)) * envelope.unsqueeze(-1)


class AtomCutoffMLP(nn.Module):
    """MLP of an atom's cutoff expansion: ``[num_nodes, num_cutoff_basis] -> [num_nodes, C]``.

    Args:
        num_cutoff_basis (int): input features.
        hidden (int): hidden width.
        num_channels (int): output channels (scalars added to the species embedding).
    """

    def __init__(self, num_cutoff_basis: int, hidden: int, num_channels: int) -> None:
        super().__init__()
        self.mlp = e3nn_nn.FullyConnectedNet(
            [num_cutoff_basis, hidden, num_channels], torch.nn.functional.silu
        )

    def forward(self, cutoff_features: Tensor) -> Tensor:
        """Args: cutoff_features (Tensor): ``[num_nodes, num_cutoff_basis]``."""
        return self.mlp(cutoff_features)
