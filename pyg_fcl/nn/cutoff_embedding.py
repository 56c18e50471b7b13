""":class:`CutoffEmbedding`, a per-atom embedding of the cutoff added to a backbone's features."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CutoffEmbedding"]


class CutoffEmbedding(nn.Module):
    """Embedding of each atom's cutoff, ``[num_nodes] -> [num_nodes, dim]``.

    Gaussians of ``r_c`` on ``[0, r_max]`` followed by a two-layer MLP whose last layer starts at
    zero, so adding it to a (pretrained) backbone's node features changes nothing at first.

    Args:
        r_max (float): largest cutoff (Å).
        dim (int): output channels (the backbone's node feature size).
        num_basis (int): number of Gaussians.
    """

    def __init__(self, r_max: float, dim: int, num_basis: int = 8) -> None:
        super().__init__()
        if num_basis < 2 or dim < 1:
            raise ValueError(
                f"CutoffEmbedding: need num_basis >= 2, dim >= 1, got {num_basis}, {dim}"
            )
        self.register_buffer("centers", torch.linspace(0.0, float(r_max), num_basis))
        self.width = float(r_max) / (num_basis - 1)
        self.mlp = nn.Sequential(nn.Linear(num_basis, dim), nn.SiLU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, cutoff: Tensor) -> Tensor:
        """Args: cutoff (Tensor): ``[num_nodes]`` (Å). Returns: ``[num_nodes, dim]``."""
        basis = torch.exp(-(((cutoff.unsqueeze(-1) - self.centers) / self.width) ** 2))
        return self.mlp(basis.to(self.mlp[0].weight.dtype))
