"""What a backbone's :meth:`~pyg_fcl.FCLModel.node_energy` receives: tensors only."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["ModelGraph"]


@dataclass(eq=False)
class ModelGraph:
    """The flexible-cutoff graph of one forward pass, ready for a backbone.

    Every field is a tensor (or an int), so a backbone written against it needs no PyG ``Data``
    and can later be exported for MD engines. Gradients flow from ``pos`` (strained when stress
    is asked) into ``edge_vec``, ``edge_length`` and ``envelope``, and from ``cutoff`` into
    ``edge_cutoff`` and ``envelope``.

    Attributes:
        z (Tensor): ``[N]`` atomic numbers (long).
        pos (Tensor): ``[N, 3]`` positions (Å).
        batch (Tensor): ``[N]`` structure index of each atom.
        num_graphs (int): number of structures ``G``.
        cutoff (Tensor): ``[N]`` per-atom cutoffs (Å).
        edge_index (Tensor): ``[2, E]``, ``edge_index[0] = j`` neighbour, ``[1] = i`` centre.
        edge_vec (Tensor): ``[E, 3]`` ``pos[j] - pos[i] + edge_shift @ cell``.
        edge_length (Tensor): ``[E]`` ``|edge_vec|``.
        edge_cutoff (Tensor): ``[E]`` edge cutoffs from the per-atom ones by the model's edge rule.
        envelope (Tensor): ``[E]`` ``u(r_ij / edge_cutoff_ij)``, 0 beyond the edge cutoff.
    """

    z: Tensor
    pos: Tensor
    batch: Tensor
    num_graphs: int
    cutoff: Tensor
    edge_index: Tensor
    edge_vec: Tensor
    edge_length: Tensor
    edge_cutoff: Tensor
    envelope: Tensor

    @property
    def num_nodes(self) -> int:
        """Number of atoms ``N``."""
        return int(self.z.numel())

    @property
    def num_edges(self) -> int:
        """Number of edges ``E``."""
        return int(self.edge_index.size(1))
