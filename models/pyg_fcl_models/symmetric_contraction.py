"""MACE's many-body product basis, evaluated per element group.

For every channel ``c`` the product basis of correlation order ``N`` is

.. math::
    B_{c,LM} = \\sum_{\\nu=1}^{N} \\sum_{k} W^{(\\nu, L)}_{z, k, c}
    \\sum_{i_1 \\dots i_\\nu}
    U^{(\\nu, L)}_{k, M, i_1 \\dots i_\\nu} A_{c, i_1} \\cdots A_{c, i_\\nu},

with element-dependent weights ``W`` (``z`` the atom's element) and the symmetric coupling bases
``U`` of :mod:`.coupling` (the same function space as MACE's ``SymmetricContraction``).

Evaluation. Atoms arrive sorted by element (the model sorts once per forward), so each element
is a contiguous slice; for each slice the weights are folded into the bases once,
``T^{(\\nu)}_{c} = \\sum_k W_{z,k,c} U_k``, and the polynomial is evaluated in Horner form from the
highest order down, as MACE does, but with the last two factors taken together as the
``D (D+1) / 2`` symmetric pairs ``A_j A_k`` (``j <= k``): per atom and channel this costs
``M D^{N-2} D(D+1)/2`` multiply-adds instead of ``M D^N``, with no per-atom weight tensors.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import Tensor, nn

from .coupling import symmetric_coupling_basis, symmetric_pairs

__all__ = ["SymmetricContraction"]


class SymmetricContraction(nn.Module):
    """Channel-wise symmetric tensor contraction with element-dependent weights.

    Args:
        num_channels (int): channels ``C`` (same in input and output).
        l_max (int): the input per channel is ``0e + 1o + ... + l_max`` (``D = (l_max+1)^2``).
        irreps_out (str or o3.Irreps): output irreps, each with multiplicity ``num_channels``
            (e.g. ``"8x0e + 8x1o"``).
        correlation (int): correlation order ``N >= 1``.
        num_elements (int): number of elements (rows of the weights).
    """

    def __init__(
        self,
        num_channels: int,
        l_max: int,
        irreps_out: str | o3.Irreps,
        correlation: int,
        num_elements: int,
    ) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        if any(mul != num_channels for mul, _ in irreps_out):
            raise ValueError(f"every output irrep needs multiplicity {num_channels}: {irreps_out}")
        if correlation < 1:
            raise ValueError(f"correlation must be >= 1, got {correlation}")
        self.num_channels = num_channels
        self.l_max = l_max
        self.dim = (l_max + 1) ** 2
        self.irreps_out = irreps_out
        self.correlation = correlation
        self.num_elements = num_elements
        self.out_dims = [ir.dim for _, ir in irreps_out]
        first, second, mult = symmetric_pairs(self.dim)
        self.register_buffer("pair_first", first, persistent=False)
        self.register_buffer("pair_second", second, persistent=False)
        self.weights = nn.ParameterList()
        self._bases: list[list[str]] = []  # [nu-1][ir] -> buffer name
        for nu in range(1, correlation + 1):
            names = []
            for i, (_, ir) in enumerate(irreps_out):
                u = symmetric_coupling_basis(l_max, ir.l, ir.p, nu)  # [K, M, D, ..., D]
                k = u.shape[0]
                if nu >= 2:  # fold the last two (symmetric) indices into pairs j <= k
                    u = u[..., first, second] * mult
                u = u.reshape(k, math.prod(u.shape[1:])).t().contiguous()  # [M D^(nu-2) P, K]
                name = f"basis_{nu}_{i}"
                # float64 here; the model casts it once to its dtype (no float32 round trip)
                self.register_buffer(name, u, persistent=False)
                names.append(name)
                weight = torch.randn(num_elements, k, num_channels) / math.sqrt(max(k, 1))
                self.weights.append(nn.Parameter(weight))
            self._bases.append(names)

    def _folded(self, nu: int, element: int) -> Tensor:
        """``T^(nu)`` for one element: ``[C, M_total * D^(nu-2) * P]`` (``[C, M_total * D]``)."""
        n_out = len(self.out_dims)
        parts = []
        for i in range(n_out):
            u = getattr(self, self._bases[nu - 1][i])
            w = self.weights[(nu - 1) * n_out + i][element]  # [K, C]
            parts.append((u.to(w.dtype) @ w).t())
        return torch.cat(parts, dim=1)

    def forward(self, a: Tensor, blocks: tuple[Tensor, ...], elements: list[int]) -> Tensor:
        """Product basis of atoms sorted by element.

        Args:
            a (Tensor): ``[num_nodes, C, D]`` the atomic basis per channel.
            blocks (tuple): ``a`` split into consecutive blocks of atoms of one element each.
            elements (list): the element index of each block.

        Returns:
            Tensor: ``[num_nodes, irreps_out.dim]`` in e3nn layout.
        """
        c, d, m = self.num_channels, self.dim, sum(self.out_dims)
        out = []
        for block, element in zip(blocks, elements):
            a_g = block.permute(1, 2, 0)  # [C, D, n]
            n = a_g.shape[-1]
            if self.correlation == 1:
                y = torch.bmm(self._folded(1, element).view(c, m, d), a_g)
            else:
                pairs = a_g.index_select(1, self.pair_first) * a_g.index_select(1, self.pair_second)
                top = self._folded(self.correlation, element)
                y = torch.bmm(top.view(c, -1, pairs.shape[1]), pairs)
                for nu in range(self.correlation - 1, 1, -1):
                    y = (y.view(c, -1, d, n) * a_g.unsqueeze(1)).sum(2)
                    t = self._folded(nu, element)
                    y = y + torch.bmm(t.view(c, -1, pairs.shape[1]), pairs)
                y = y.view(c, m, n) + torch.bmm(self._folded(1, element).view(c, m, d), a_g)
            out.append(y)
        y = torch.cat(out, dim=2)  # [C, M_total, N]
        parts = torch.split(y, self.out_dims, dim=1)
        return torch.cat([b.permute(2, 0, 1).reshape(a.shape[0], -1) for b in parts], dim=1)

    def extra_repr(self) -> str:
        return (
            f"channels={self.num_channels}, l_max={self.l_max}, irreps_out={self.irreps_out}, "
            f"correlation={self.correlation}, num_elements={self.num_elements}"
        )
