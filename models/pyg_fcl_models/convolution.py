"""Channel-wise equivariant convolution on a per-receiver layout in degree buckets.

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
are laid out per receiver, ``[num_receivers, degree]`` (padding slots carry zero weights). Per
edge only ``R h_j`` (``C (2 l_1 + 1)`` numbers per path) is formed, not the
``C (2 l_1 + 1)(2 l_2 + 1)`` outer product nor the message.

Padding every receiver to the batch's largest degree wastes most of that work when degrees
differ, as they do with per-atom cutoffs (FCL training: ~50 % of the slots filled). Receivers are
therefore sorted by degree and cut into a few buckets, each padded only to its own largest
degree (:class:`Neighborhood`): typically 85-95 % of the slots hold an edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from e3nn import o3
from torch import Tensor, nn

__all__ = ["Neighborhood", "ChannelwiseConvolution"]

#: Layout cost of one more bucket, in slots: one more small matrix product per path and layer
#: (forward, backward and double backward), ~10 us each on a CPU, against ~0.1-0.2 us per slot.
BUCKET_COST_SLOTS = 64.0
#: Most buckets per layout (``1``: every receiver padded to the largest degree). Read at call
#: time, so it can be changed for a comparison (``benchmarks/fcl_step.py --compare-single-block``).
MAX_BUCKETS = 8


def _choose_buckets(degree: np.ndarray, bucket_cost: float, max_buckets: int) -> list:
    """Splits receivers sorted by degree (descending) into runs padded to their largest degree.

    Minimises ``slots + bucket_cost * num_buckets`` over contiguous runs of the distinct degrees
    (exact dynamic programme, ``O(max_buckets * U^2)`` for ``U`` distinct degrees).

    Args:
        degree (np.ndarray): ``[A]`` positive degrees, sorted descending.

    Returns:
        list[tuple[int, int]]: ``(num_receivers, degree)`` per bucket, largest degree first.
    """
    values, counts = np.unique(degree, return_counts=True)  # ascending
    u = values.shape[0]
    if u == 0:
        return []
    prefix = np.concatenate([[0], np.cumsum(counts)]).astype(np.float64)
    top = values.astype(np.float64)  # top[k - 1]: the largest degree of a run ending at k
    k = np.arange(1, u + 1)
    cost = np.full(u + 1, np.inf)
    cost[1:] = prefix[1:] * top  # one run [0, k)
    best_total, best_b, choices = cost[u] + bucket_cost, 1, []
    # run [j, k) with j >= 1 after b - 1 runs: cost[j] + (prefix[k] - prefix[j]) * top[k - 1]
    valid = np.arange(u + 1)[:, None] < k[None, :]  # j < k
    for b in range(2, min(max_buckets, u) + 1):
        m = cost[:, None] + (prefix[None, 1:] - prefix[:, None]) * top[None, :]
        m[~valid] = np.inf
        m[0] = np.inf  # the first run starts at 0 and is already counted in cost
        arg = m.argmin(0)
        new = np.full(u + 1, np.inf)
        new[1:] = m[arg, k - 1]
        cost = new
        choices.append(arg)
        if cost[u] + bucket_cost * b < best_total:
            best_total, best_b = cost[u] + bucket_cost * b, b
    runs, end = [], u
    for b in range(best_b, 1, -1):
        start = int(choices[b - 2][end - 1])
        runs.append((start, end))
        end = start
    runs.append((0, end))  # runs are now in descending degree order
    return [(int(prefix[e] - prefix[s]), int(values[e - 1])) for s, e in runs]


@dataclass
class Neighborhood:
    """Edges laid out per receiver in degree buckets.

    Receivers are sorted by degree (descending) and split into a few buckets; each bucket is a
    dense block ``[num_receivers, degree]`` padded to its own largest degree (not the batch's),
    so that the neighbour sum is one batched matrix product per bucket with few padding slots.
    The blocks are stored one after the other as a flat slot axis ``[num_slots]``.

    Attributes:
        slot (Tensor): ``[num_edges]`` the slot of every edge.
        sender (Tensor): ``[num_slots]`` neighbour node per slot (0 for padding).
        nodes (Tensor): ``[num_receivers]`` receiver node of every block row, bucket by bucket
            (nodes without edges are left out).
        buckets (list[tuple[int, int]]): ``(num_receivers, degree)`` of each block.
        num_nodes (int): number of nodes.
        num_edges (int): number of edges.
    """

    slot: Tensor
    sender: Tensor
    nodes: Tensor
    buckets: list
    num_nodes: int
    num_edges: int

    @property
    def num_slots(self) -> int:
        """Slots of the layout (edges plus padding)."""
        return self.sender.numel()

    @classmethod
    def from_edges(
        cls,
        sender: Tensor,
        receiver: Tensor,
        num_nodes: int,
        bucket_cost: float | None = None,
        max_buckets: int | None = None,
    ) -> Neighborhood:
        """Args:
        sender, receiver (Tensor): ``[num_edges]`` node indices ``j`` and ``i``.
        num_nodes (int): number of nodes.
        bucket_cost (float, optional): slots one more bucket must save to be used (default
            :data:`BUCKET_COST_SLOTS`).
        max_buckets (int, optional): most buckets, ``1`` pads every receiver to the largest
            degree (default :data:`MAX_BUCKETS`).
        """
        bucket_cost = BUCKET_COST_SLOTS if bucket_cost is None else float(bucket_cost)
        max_buckets = MAX_BUCKETS if max_buckets is None else int(max_buckets)
        if max_buckets < 1:
            raise ValueError(f"Neighborhood: max_buckets must be >= 1, got {max_buckets}")
        device = receiver.device
        num_edges = receiver.numel()
        counts = torch.bincount(receiver, minlength=num_nodes)
        degree, perm = torch.sort(counts, descending=True, stable=True)
        degree_np = degree.cpu().numpy()
        num_active = int((degree_np > 0).sum())
        buckets = _choose_buckets(degree_np[:num_active], bucket_cost, max_buckets)
        sizes = torch.tensor([n for n, _ in buckets], dtype=torch.long)
        widths = torch.tensor([d for _, d in buckets], dtype=torch.long)
        offsets = torch.cumsum(sizes * widths, 0) - sizes * widths
        firsts = torch.cumsum(sizes, 0) - sizes
        row = torch.arange(num_active) - firsts.repeat_interleave(sizes)
        base_sorted = offsets.repeat_interleave(sizes) + row * widths.repeat_interleave(sizes)
        nodes = perm[:num_active]
        base = torch.zeros(num_nodes, dtype=torch.long, device=device)
        base[nodes] = base_sorted.to(device)
        order = torch.argsort(receiver, stable=True)
        rec = receiver.index_select(0, order)
        starts = torch.cumsum(counts, 0) - counts
        slot_sorted = base.index_select(0, rec) + torch.arange(num_edges, device=device)
        slot_sorted -= starts.index_select(0, rec)
        slot = torch.empty_like(slot_sorted)
        slot[order] = slot_sorted
        num_slots = int((sizes * widths).sum())
        padded_sender = torch.zeros(num_slots, dtype=torch.long, device=device)
        padded_sender[slot_sorted] = sender.index_select(0, order)
        return cls(slot, padded_sender, nodes, buckets, num_nodes, num_edges)

    def pad(self, values: Tensor, fill: Tensor | float = 0.0) -> Tensor:
        """``[num_edges, *F] -> [num_slots, *F]``; padding slots get ``fill``."""
        out = values.new_full((self.num_slots, *values.shape[1:]), float(fill))
        return out.index_copy(0, self.slot, values)

    def blocks(self, values: Tensor) -> list[Tensor]:
        """``[num_slots, *F]`` -> one ``[num_receivers, degree, *F]`` view per bucket."""
        # torch.split, not slicing: its backward concatenates the blocks' gradients once, where
        # every slice's backward would fill a zero tensor of the full size (O(buckets * slots))
        parts = torch.split(values, [n * d for n, d in self.buckets])
        return [p.view(n, d, *values.shape[1:]) for p, (n, d) in zip(parts, self.buckets)]

    def to_nodes(self, values: Tensor) -> Tensor:
        """``[num_receivers, *F]`` (block rows) -> ``[num_nodes, *F]``, zero for nodes without
        edges."""
        out = values.new_zeros(self.num_nodes, *values.shape[1:])
        return out.index_copy(0, self.nodes, values)


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
            sh (Tensor): ``[num_slots, (l_max + 1)^2]`` edge harmonics laid out by ``nbr.pad``.
            weights (Tensor): ``[num_slots, num_paths * C]`` edge weights laid out by
                ``nbr.pad`` (zero on padding slots and on edges past their cutoff).
            nbr (Neighborhood): the per-receiver layout.

        Returns:
            Tensor: ``[num_nodes, C, irreps_target.dim / C]``, summed over neighbours.
        """
        s = nbr.num_slots
        c = self.num_channels
        rows = sum(n for n, _ in nbr.buckets)
        sh_l = [
            nbr.blocks(y) for y in torch.split(sh, [2 * l + 1 for l in range(self.l_max + 1)], 1)
        ]
        w_p = weights.reshape(s, len(self.paths), c).unbind(1)
        gathered = [
            x.index_select(0, nbr.sender).reshape(s, c, ir.dim)
            for x, (_, ir) in zip(torch.split(h, self.node_dims, dim=1), self.irreps_node)
        ]
        per_l3: dict[int, list[Tensor]] = {l3: [] for l3 in self.out_ls}
        for k, (a, l2, l3) in enumerate(self.paths):
            x = gathered[a]  # [S, C, 2 l1 + 1]
            u = (w_p[k].unsqueeze(-1) * x).reshape(s, x.shape[1] * x.shape[2])
            # per bucket [n, degree, C (2l1+1)]^T @ [n, degree, 2l2+1] -> [n, C (2l1+1), 2l2+1]
            parts = [torch.bmm(ub.transpose(1, 2), yb) for ub, yb in zip(nbr.blocks(u), sh_l[l2])]
            t = torch.cat(parts) if parts else u.new_zeros(0, u.shape[1], 2 * l2 + 1)
            cg = getattr(self, f"cg_{k}").to(t.dtype)
            per_l3[l3].append((t.reshape(rows * c, cg.shape[0]) @ cg).reshape(rows, c, 2 * l3 + 1))
        out = []
        for l3, mix in zip(self.out_ls, self.mix):
            stacked = torch.cat(per_l3[l3], dim=1)  # [rows, C * paths(l3), 2 l3 + 1]
            out.append(torch.einsum("nkm,kc->ncm", stacked, mix) / math.sqrt(mix.shape[0]))
        return nbr.to_nodes(torch.cat(out, dim=2))
