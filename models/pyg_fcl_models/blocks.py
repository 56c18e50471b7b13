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

from .convolution import ChannelwiseConvolution, Neighborhood
from .symmetric_contraction import SymmetricContraction

__all__ = [
    "ElementGroups",
    "ElementLinear",
    "InteractionBlock",
    "ProductBlock",
    "LinearReadout",
    "NonLinearReadout",
]


@dataclass
class ElementGroups:
    """Atoms sorted by element: ``perm`` sorts, ``inverse`` undoes it; ``elements`` and
    ``sizes`` list each present element (its index) and its number of atoms, in sorted order."""

    perm: Tensor
    inverse: Tensor
    elements: list[int]
    sizes: list[int]

    @classmethod
    def from_species(cls, species: Tensor, num_elements: int) -> ElementGroups:
        """Args: species (Tensor): ``[num_nodes]`` element index (``0..num_elements-1``)."""
        perm = torch.argsort(species, stable=True)
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=perm.device)
        counts = torch.bincount(species, minlength=num_elements).tolist()
        present = [e for e, count in enumerate(counts) if count]
        return cls(perm, inverse, present, [counts[e] for e in present])

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """Split a sorted ``[num_nodes, ...]`` tensor into one block per present element."""
        return torch.split(x, self.sizes, dim=0)


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

    def forward(self, x: Tensor, groups: ElementGroups) -> Tensor:
        """Args: x (Tensor): ``[num_nodes, irreps_in.dim]`` sorted by element."""
        blocks = groups.split(x)
        return torch.cat(
            [self.linear(b, self.weight[e]) for b, e in zip(blocks, groups.elements)], dim=0
        )


class InteractionBlock(nn.Module):
    """Equivariant message passing: ``A_i = sum_j TP(W_up h_j, Y(r_ij); R_ij) / avg_nn``,
    the tensor product channel-wise with a linear mix per degree
    (:class:`~.convolution.ChannelwiseConvolution`).

    Args:
        irreps_node (o3.Irreps): node features in.
        l_max (int): degree of the edge spherical harmonics.
        irreps_target (o3.Irreps): the atomic basis ``A`` (``C x (0e + 1o + ... + l_max)``).
        avg_num_neighbors (float): normalisation of the neighbour sum.
    """

    def __init__(
        self,
        irreps_node: o3.Irreps,
        l_max: int,
        irreps_target: o3.Irreps,
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.linear_up = o3.Linear(irreps_node, irreps_node)
        self.conv = ChannelwiseConvolution(irreps_node, l_max, irreps_target)

    @property
    def weight_numel(self) -> int:
        """Number of per-edge weights the radial network must provide."""
        return self.conv.weight_numel

    def forward(self, h: Tensor, sh: Tensor, weights: Tensor, nbr: Neighborhood) -> Tensor:
        """Args:
            h (Tensor): ``[num_nodes, irreps_node.dim]``.
            sh (Tensor): ``[num_nodes, max_degree, (l_max+1)^2]`` padded edge harmonics.
            weights (Tensor): ``[num_nodes, max_degree, weight_numel]`` (zero for padding and
                for edges past their cutoff).
            nbr (Neighborhood): edges per receiver.

        Returns:
            Tensor: ``[num_nodes, C, D]`` the atomic basis per channel.
        """
        return self.conv(self.linear_up(h), sh, weights, nbr) / self.avg_num_neighbors


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

    def forward(self, a: Tensor, skip: Tensor, groups: ElementGroups) -> Tensor:
        """Args:
        a (Tensor): ``[num_nodes, C, D]`` atomic basis (atoms sorted by element).
        skip (Tensor): ``[num_nodes, irreps_out.dim]`` residual.
        groups (ElementGroups): the element blocks.
        """
        return self.linear(self.contraction(a, groups.split(a), groups.elements)) + skip


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
