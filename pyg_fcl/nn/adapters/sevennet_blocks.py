"""Small modules that make SevenNet cutoff-flexible: its XPLOR switch at the edge cutoff, and a
cutoff-aware correction of its radial basis that starts at zero.

The XPLOR switching function (Brooks et al., CHARMM; also HOOMD-blue's ``xplor`` mode) with
``x = r / r_c`` and ``a = r_on / r_cut``:

.. math::
    u(x) = 1 \\ (x < a), \\qquad
    u(x) = \\frac{(1 - x^2)^2 (1 + 2 x^2 - 3 a^2)}{(1 - a^2)^3} \\ (a \\le x < 1), \\qquad
    u(x) = 0 \\ (x \\ge 1).

It is continuous with a continuous first derivative at ``x = a`` and ``x = 1`` (the second
derivative jumps), so energies and forces stay continuous. With ``r_c = 5 Å`` and ``a = 0.9`` it
is exactly SevenNet-0's own cutoff function.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["XPLOREnvelope", "EdgeCutoffRadial", "anchor_gate"]


def anchor_gate(cutoff: Tensor, r_max: float) -> Tensor:
    """``1 - r_c / r_max`` (clamped at 0): a factor that makes a cutoff conditioning vanish at
    ``r_max``, smoothly (linear) in ``r_c`` so cutoff gradients stay defined."""
    return (1.0 - cutoff / float(r_max)).clamp(min=0.0)


class XPLOREnvelope(nn.Module):
    """XPLOR switch ``u(r, r_c)`` rescaled to each edge's cutoff, differentiable in both.

    Args:
        on_ratio (float): ``r_on / r_cut`` in ``(0, 1)``; SevenNet-0 has 4.5 / 5 = 0.9.
    """

    def __init__(self, on_ratio: float = 0.9) -> None:
        super().__init__()
        if not 0.0 < float(on_ratio) < 1.0:
            raise ValueError(f"XPLOREnvelope: on_ratio must be in (0, 1), got {on_ratio!r}")
        self.on_ratio = float(on_ratio)

    def forward(self, r: Tensor, r_c: Tensor | float) -> Tensor:
        """Args: r (Tensor): ``[num_edges]`` distances; r_c (Tensor or float): ``[num_edges]``
        or scalar cutoffs. Returns: ``[num_edges]``, 1 below ``on_ratio * r_c``, 0 from ``r_c``.
        """
        x2 = (r / r_c).clamp(min=0.0, max=1.0).square()
        a2 = self.on_ratio**2
        switch = (1.0 - x2).square() * (1.0 + 2.0 * x2 - 3.0 * a2) / (1.0 - a2) ** 3
        one = torch.ones((), dtype=switch.dtype, device=switch.device)
        zero = torch.zeros((), dtype=switch.dtype, device=switch.device)
        return torch.where(x2 < a2, one, torch.where(x2 < 1.0, switch, zero))

    def extra_repr(self) -> str:
        return f"on_ratio={self.on_ratio}"


class EdgeCutoffRadial(nn.Module):
    """Radial features that know the edge cutoff: ``(basis + MLP([basis, r_c/r_max, r/r_c])) * u``.

    The MLP's last layer starts at zero, so at first this is SevenNet's own ``basis * u``. One
    instance per interaction layer feeds that layer's weight network. With ``anchored`` the MLP
    term is multiplied by :func:`anchor_gate` of the edge cutoff: zero at ``r_max`` always.

    Args:
        num_basis (int): SevenNet's number of radial basis functions.
        r_max (float): the model's largest cutoff (Å), to scale ``r_c``.
        hidden (int): hidden width of the MLP.
        anchored (bool): gate the correction with ``1 - r_c / r_max``.
    """

    def __init__(
        self, num_basis: int, r_max: float, hidden: int = 32, anchored: bool = False
    ) -> None:
        super().__init__()
        if num_basis < 1 or hidden < 1:
            raise ValueError(
                f"EdgeCutoffRadial: need num_basis, hidden >= 1, got {num_basis}, {hidden}"
            )
        self.r_max = float(r_max)
        self.anchored = bool(anchored)
        self.mlp = nn.Sequential(
            nn.Linear(num_basis + 2, hidden), nn.SiLU(), nn.Linear(hidden, num_basis)
        )
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(
        self, basis: Tensor, edge_length: Tensor, edge_cutoff: Tensor, envelope: Tensor
    ) -> Tensor:
        """Args:
            basis (Tensor): ``[num_edges, num_basis]`` radial basis at ``edge_length``.
            edge_length (Tensor): ``[num_edges]`` (Å).
            edge_cutoff (Tensor): ``[num_edges]`` (Å).
            envelope (Tensor): ``[num_edges]`` ``u(r, r_c)``.

        Returns:
            Tensor: ``[num_edges, num_basis]`` radial features, 0 where the envelope is 0.
        """
        extra = torch.stack([edge_cutoff / self.r_max, edge_length / edge_cutoff], dim=-1)
        features = torch.cat([basis, extra.to(basis.dtype)], dim=-1)
        correction = self.mlp(features)
        if self.anchored:
            correction = correction * anchor_gate(edge_cutoff, self.r_max).unsqueeze(-1).to(
                correction.dtype
            )
        return (basis + correction) * envelope.unsqueeze(-1)
