"""Channel-wise equivariant convolution on a padded neighbourhood layout.

MACE's interaction sums, over the neighbours ``j`` of ``i``, an "uvu" tensor product of the
neighbour's features with the edge's spherical harmonics, weighted per edge, channel and path:

.. math::
    m_{i,c,p} = \\sum_{j} R_{ij,c,p} \\, C_p\\big(h_{j,c}^{(l_1)} \\otimes Y^{(l_2)}(\\hat r_{ij})
    \\big)^{(l_3)},

``C_p`` the Wigner 3j coupling of path ``p = (l_1, l_2 -> l_3)`` (times ``sqrt(2 l_3 + 1)``,
e3nn's "component" normalisation). e3nn's ``TensorProduct`` builds every per-edge message
``[num_edges, C, 2 l_3 + 1]`` and then scatters it. Since the coupling is linear, it can be
applied after the neighbour sum instead:

.. math::
    T_{i,c,p} = \\sum_j \\big(R_{ij,c,p} h_{j,c}^{(l_1)}\\big) \\otimes Y^{(l_2)}_{ij}
    \\in \\mathbb{R}^{(2l_1+1) \\times (2l_2+1)}, \\qquad m_{i,c,p} = C_p(T_{i,c,p}),

and the neighbour sum of outer products is one batched matrix product per path when the edges
are laid out per receiver, ``[num_nodes, max_degree]`` (padding slots carry zero weights). Per
edge only ``R h_j`` (``C (2 l_1 + 1)`` numbers per path) is formed, not the
``C (2 l_1 + 1)(2 l_2 + 1)`` outer product nor the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import o3
from torch import Tensor, nn

__all__ = ["Neighborhood", "ChannelwiseConvolution"]


@dataclass
class Neighborhood:
    """Edges laid out per receiver: slot ``(i, k)`` holds the ``k``-th edge into node ``i``.

    Attributes:
        index (Tensor): ``[num_nodes, max_degree]`` edge id per slot, ``num_edges`` for padding.
        sender (Tensor): ``[num_nodes, max_degree]`` neighbour node per slot (0 for padding).
        num_edges (int): number of edges.
    """

    index: Tensor
    sender: Tensor
    num_edges: int

    @classmethod
    def from_edges(cls, sender: Tensor, receiver: Tensor, num_nodes: int) -> Neighborhood:
        """Args: sender, receiver (Tensor): ``[num_edges]`` node indices ``j`` and ``i``."""
        num_edges = receiver.numel()
        counts = torch.bincount(receiver, minlength=num_nodes)
        max_degree = int(counts.max()) if num_nodes and num_edges else 0
        order = torch.argsort(receiver, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        rec = receiver[order]
        slot = torch.arange(num_edges, device=receiver.device) - starts[rec]
        index = torch.full(
            (num_nodes, max_degree), num_edges, dtype=torch.long, device=receiver.device
        )
        index[rec, slot] = order
        padded_sender = torch.zeros_like(index)
        padded_sender[rec, slot] = sender[order]
        return cls(index, padded_sender, num_edges)

    def pad(self, values: Tensor, fill: Tensor | float = 0.0) -> Tensor:
        """``[num_edges, *F] -> [num_nodes, max_degree, *F]``; padding slots get ``fill``."""
        fill = torch.as_tensor(fill, dtype=values.dtype, device=values.device)
        fill_row = fill.expand(values.shape[1:]).unsqueeze(0)
        extended = torch.cat([values, fill_row], dim=0)
        return extended.index_select(0, self.index.reshape(-1)).reshape(
            *self.index.shape, *values.shape[1:]
        )


def _paths(irreps_node: o3.Irreps, l_max_sh: int, target: o3.Irreps) -> list[tuple[int, int, int]]:
    """``(input irrep index, l_2, l_3)`` of every uvu path whose output is in ``target``."""
    targets = {ir for _, ir in target}
    paths = []
    for a, (_, ir_in) in enumerate(irreps_node):
        for l2 in range(l_max_sh + 1):
            for ir_out in ir_in * o3.Irrep(l2, (-1) ** l2):
                if ir_out in targets:
                    paths.append((a, l2, ir_out.l))
    return paths


class ChannelwiseConvolution(nn.Module):
    """Neighbour sum of channel-wise tensor products, then a linear mix per output degree.

    Args:
        irreps_node (o3.Irreps): node features, every irrep with multiplicity ``C``.
        l_max (int): degree of the edge spherical harmonics (parities ``(-1)^l``).
        irreps_target (o3.Irreps): output ``C x (0e + 1o + ... )`` (one irrep per degree).

    ``forward`` returns ``[num_nodes, C, irreps_target.dim / C]``, the per-channel layout of the
    product basis.
    """

    def __init__(self, irreps_node: o3.Irreps, l_max: int, irreps_target: o3.Irreps) -> None:
        super().__init__()
        muls = {mul for mul, _ in irreps_node} | {mul for mul, _ in irreps_target}
        if len(muls) != 1:
            raise ValueError(f"all multiplicities must be equal: {irreps_node}, {irreps_target}")
        self.num_channels = muls.pop()
        self.irreps_node = irreps_node
        self.l_max = l_max
        self.irreps_target = irreps_target
        self.paths = _paths(irreps_node, l_max, irreps_target)
        self.out_ls = [ir.l for _, ir in irreps_target]
        self.node_dims = [mul * ir.dim for mul, ir in irreps_node]
        for k, (a, l2, l3) in enumerate(self.paths):
            l1 = irreps_node[a].ir.l
            cg = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
            self.register_buffer(f"cg_{k}", cg.reshape(-1, 2 * l3 + 1), persistent=False)
        self.mix = nn.ParameterList()
        for l3 in self.out_ls:
            fan_in = self.num_channels * sum(1 for p in self.paths if p[2] == l3)
            self.mix.append(nn.Parameter(torch.randn(fan_in, self.num_channels)))

    @property
    def weight_numel(self) -> int:
        """Per-edge weights the radial network provides: ``num_paths * C``."""
        return len(self.paths) * self.num_channels

    def forward(self, h: Tensor, sh: Tensor, weights: Tensor, nbr: Neighborhood) -> Tensor:
        """Args:
            h (Tensor): ``[num_nodes, irreps_node.dim]`` node features.
            sh (Tensor): ``[num_nodes, max_degree, (l_max + 1)^2]`` padded edge harmonics.
            weights (Tensor): ``[num_nodes, max_degree, num_paths * C]`` padded edge weights
                (zero on padding slots and on edges past their cutoff).
            nbr (Neighborhood): the padded layout.

        Returns:
            Tensor: ``[num_nodes, C, irreps_target.dim / C]``, summed over neighbours.
        """
        n, degree = nbr.index.shape
        c = self.num_channels
        sh_l = torch.split(sh, [2 * l + 1 for l in range(self.l_max + 1)], dim=2)
        w_p = weights.reshape(n, degree, len(self.paths), c).unbind(2)
        senders = nbr.sender.reshape(-1)
        gathered = [
            x.index_select(0, senders).reshape(n, degree, c, ir.dim)
            for x, (_, ir) in zip(torch.split(h, self.node_dims, dim=1), self.irreps_node)
        ]
        per_l3: dict[int, list[Tensor]] = {l3: [] for l3 in self.out_ls}
        for k, (a, l2, l3) in enumerate(self.paths):
            x = gathered[a]  # [n, degree, C, 2 l1 + 1]
            u = (w_p[k].unsqueeze(-1) * x).reshape(n, degree, x.shape[2] * x.shape[3])
            t = torch.bmm(u.transpose(1, 2), sh_l[l2])  # [n, C (2l1+1), 2l2+1]
            cg = getattr(self, f"cg_{k}").to(t.dtype)
            per_l3[l3].append((t.reshape(n * c, cg.shape[0]) @ cg).reshape(n, c, cg.shape[1]))
        out = []
        for l3, mix in zip(self.out_ls, self.mix):
            stacked = torch.cat(per_l3[l3], dim=1)  # [n, C * paths(l3), 2 l3 + 1]
            out.append(torch.einsum("nkm,kc->ncm", stacked, mix) / math.sqrt(mix.shape[0]))
        return torch.cat(out, dim=2)
