"""Interaction, product and readout blocks of the FCL-MACE model (MACE's decomposition).

Atoms are processed sorted by element (see :class:`ElementGroups`) so that element-dependent
weights apply to contiguous slices, without per-atom weight tensors or one-hot products.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import Tensor, nn

from .symmetric_contraction import SymmetricContraction

__all__ = [
    "ElementGroups",
    "ElementLinear",
    "InteractionBlock",
    "ProductBlock",
    "LinearReadout",
    "NonLinearReadout",
    "uvu_instructions",
]


@dataclass
class ElementGroups:
    """Atoms sorted by element: ``perm`` sorts, ``inverse`` undoes it, ``slices`` lists
    ``(element_index, start, stop)`` of each present element in sorted order."""

    perm: Tensor
    inverse: Tensor
    slices: list[tuple[int, int, int]]

    @classmethod
    def from_species(cls, species: Tensor, num_elements: int) -> ElementGroups:
        """Args: species (Tensor): ``[num_nodes]`` element index (``0..num_elements-1``)."""
        perm = torch.argsort(species, stable=True)
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=perm.device)
        counts = torch.bincount(species, minlength=num_elements).tolist()
        slices, start = [], 0
        for element, count in enumerate(counts):
            if count:
                slices.append((element, start, start + count))
                start += count
        return cls(perm, inverse, slices)


class ElementLinear(nn.Module):
    """Equivariant linear map with one weight set per element (MACE's ``skip_tp`` with one-hot
    node attributes, which is exactly this).

    Args:
        irreps_in, irreps_out (o3.Irreps): input and output irreps.
        num_elements (int): number of weight sets.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, num_elements: int) -> None:
        super().__init__()
        self.linear = o3.Linear(irreps_in, irreps_out, internal_weights=False, shared_weights=True)
        self.weight = nn.Parameter(torch.randn(num_elements, self.linear.weight_numel))

    def forward(self, x: Tensor, slices: list[tuple[int, int, int]]) -> Tensor:
        """Args: x (Tensor): ``[num_nodes, irreps_in.dim]`` sorted by element."""
        return torch.cat([self.linear(x[a:b], self.weight[e]) for e, a, b in slices], dim=0)


def uvu_instructions(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, target: o3.Irreps
) -> tuple[o3.Irreps, list[tuple]]:
    """Channel-wise ("uvu") tensor-product paths ``in x sh -> out`` with ``out`` in ``target``
    (MACE's ``tp_out_irreps_with_instructions``): output irreps sorted, one path per output."""
    targets = {ir for _, ir in target}
    irreps_mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in targets:
                    instructions.append((i, j, len(irreps_mid), "uvu", True))
                    irreps_mid.append((mul, ir_out))
    irreps_mid, perm, _ = o3.Irreps(irreps_mid).sort()
    instructions = sorted(
        [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions], key=lambda x: x[2]
    )
    return irreps_mid, instructions


class InteractionBlock(nn.Module):
    """Equivariant message passing: ``A_i = W sum_j TP(W_up h_j, Y(r_ij); R_ij) / avg_nn``.

    Args:
        irreps_node (o3.Irreps): node features in.
        irreps_sh (o3.Irreps): edge spherical harmonics.
        irreps_target (o3.Irreps): the atomic basis ``A`` (``C x (0e + 1o + ... + l_max)``).
        avg_num_neighbors (float): normalisation of the neighbour sum.
    """

    def __init__(
        self,
        irreps_node: o3.Irreps,
        irreps_sh: o3.Irreps,
        irreps_target: o3.Irreps,
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        self.irreps_target = irreps_target
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.linear_up = o3.Linear(irreps_node, irreps_node)
        irreps_mid, instructions = uvu_instructions(irreps_node, irreps_sh, irreps_target)
        self.conv_tp = o3.TensorProduct(
            irreps_node,
            irreps_sh,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.linear = o3.Linear(irreps_mid, irreps_target)

    @property
    def weight_numel(self) -> int:
        """Number of per-edge weights the radial network must provide."""
        return self.conv_tp.weight_numel

    def forward(
        self, h: Tensor, sh: Tensor, weights: Tensor, sender: Tensor, receiver: Tensor
    ) -> Tensor:
        """Args:
            h (Tensor): ``[num_nodes, irreps_node.dim]``.
            sh (Tensor): ``[num_edges, irreps_sh.dim]``.
            weights (Tensor): ``[num_edges, weight_numel]`` (zero for edges past their cutoff).
            sender, receiver (Tensor): ``[num_edges]`` node indices ``j`` and ``i``.

        Returns:
            Tensor: ``[num_nodes, C, D]`` the atomic basis per channel.
        """
        h = self.linear_up(h)
        messages = self.conv_tp(h.index_select(0, sender), sh, weights)
        summed = messages.new_zeros(h.shape[0], messages.shape[1]).index_add(0, receiver, messages)
        a = self.linear(summed) / self.avg_num_neighbors
        n = a.shape[0]
        sizes = [mul * ir.dim for mul, ir in self.irreps_target]
        blocks = [
            block.reshape(n, mul, ir.dim)
            for block, (mul, ir) in zip(a.split(sizes, dim=1), self.irreps_target)
        ]
        return torch.cat(blocks, dim=2)


class ProductBlock(nn.Module):
    """Many-body product basis, linear mixing and the element-dependent residual.

    Args:
        num_channels (int): channels ``C``.
        l_max (int): degree of the atomic basis.
        irreps_out (o3.Irreps): output node features.
        correlation (int): body order minus one.
        num_elements (int): number of elements.
    """

    def __init__(
        self,
        num_channels: int,
        l_max: int,
        irreps_out: o3.Irreps,
        correlation: int,
        num_elements: int,
    ) -> None:
        super().__init__()
        self.contraction = SymmetricContraction(
            num_channels, l_max, irreps_out, correlation, num_elements
        )
        self.linear = o3.Linear(irreps_out, irreps_out)

    def forward(self, a: Tensor, skip: Tensor, slices: list[tuple[int, int, int]]) -> Tensor:
        """Args:
        a (Tensor): ``[num_nodes, C, D]`` atomic basis (atoms sorted by element).
        skip (Tensor): ``[num_nodes, irreps_out.dim]`` residual.
        slices (list): ``(element, start, stop)`` of each element's atoms.
        """
        return self.linear(self.contraction(a, slices)) + skip


class LinearReadout(nn.Module):
    """Per-atom energy from the scalars of a layer: ``[num_nodes, irreps.dim] -> [num_nodes]``."""

    def __init__(self, irreps_in: o3.Irreps) -> None:
        super().__init__()
        self.linear = o3.Linear(irreps_in, o3.Irreps("0e"))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).squeeze(-1)


class NonLinearReadout(nn.Module):
    """MACE's last readout: linear to ``hidden`` scalars, SiLU, linear to one energy."""

    def __init__(self, irreps_in: o3.Irreps, hidden: int) -> None:
        super().__init__()
        irreps_hidden = o3.Irreps(f"{hidden}x0e")
        self.linear_1 = o3.Linear(irreps_in, irreps_hidden)
        self.activation = e3nn_nn.Activation(irreps_hidden, [torch.nn.functional.silu])
        self.linear_2 = o3.Linear(irreps_hidden, o3.Irreps("0e"))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_2(self.activation(self.linear_1(x))).squeeze(-1)
