"""The model interface every pyg-fcl backbone implements.

A pyg-fcl model is an :class:`FCLModel`: ``forward(data, compute_stress=False)`` takes a PyG
``Data``/``Batch`` with ``z``, ``pos``, ``cell``, ``pbc`` and optionally per-atom ``cutoff`` and
returns a dict with ``energy`` ``[num_graphs]``, ``node_energy`` ``[num_nodes]``, ``forces``
``[num_nodes, 3]`` and, when asked, ``stress`` ``[num_graphs, 3, 3]``.

The base class owns what every backbone shares:

* the flexible graph (:class:`~pyg_fcl.transforms.FlexibleRadiusGraph`, searched once at ``r_max``
  and pruned to the per-atom cutoffs),
* the trained cutoff range ``[r_min, r_max]``, the ``edge_rule`` and the known ``elements``,
* the energy normalisation (per-element reference energies, scale and shift) that the trainer
  fits from data,
* the constructor config that checkpoints store (see :mod:`pyg_fcl.checkpoint`).

Subclasses implement :meth:`config` (their constructor keyword arguments, plain Python values)
and :meth:`forward`, typically::

    data = self.prepare(data)                       # graph + validated cutoffs
    geo = apply_strain(data.pos, data.cell, data.batch, data.num_graphs, compute_stress)
    vec = edge_vectors(geo.pos, data.edge_index, data.edge_shift, geo.cell, data.batch)
    edge_cutoff = self.edge_cutoff(data)            # differentiable in data.cutoff
    node_energy = self.normalize_energy(raw_node_energy, data.z)
    ...
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from .transforms import FlexibleRadiusGraph, compute_edge_cutoff, validate_cutoff

__all__ = ["FCLModel"]

_MAX_Z = 119


class FCLModel(nn.Module):
    """Base class of cutoff-flexible models.

    Args:
        r_max (float): largest cutoff (Å); the neighbour search radius.
        r_min (float, optional): smallest cutoff the model was trained with (defaults to
            ``r_max``, i.e. a fixed-cutoff model).
        edge_rule (str): how an edge's cutoff is formed from its atoms' cutoffs (DESIGN.md).
        elements (Sequence[int]): atomic numbers the model knows.
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
    """

    def __init__(
        self,
        r_max: float,
        r_min: float | None = None,
        edge_rule: str = "mean",
        elements: Sequence[int] = (),
        neighbor_backend: str = "auto",
    ) -> None:
        super().__init__()
        r_max = float(r_max)
        r_min = r_max if r_min is None else float(r_min)
        if not (r_max > 0 and 0 < r_min <= r_max):
            raise ValueError(f"need 0 < r_min <= r_max, got r_min={r_min}, r_max={r_max}")
        elements = sorted({int(z) for z in elements})
        bad = [z for z in elements if not 0 < z < _MAX_Z]
        if bad:
            raise ValueError(f"elements must be atomic numbers in 1..118, got {bad}")
        self.r_max = r_max
        self.r_min = r_min
        self.edge_rule = edge_rule
        self.elements = elements
        self.graph = FlexibleRadiusGraph(r_max, edge_rule=edge_rule, backend=neighbor_backend)
        known = torch.zeros(_MAX_Z, dtype=torch.bool)
        known[elements] = True
        self.register_buffer("known_elements", known, persistent=False)
        self.register_buffer("atomic_energies", torch.zeros(_MAX_Z))
        self.register_buffer("energy_scale", torch.ones(()))
        self.register_buffer("energy_shift", torch.zeros(()))

    # ------------------------------------------------------------------ interface
    def config(self) -> dict:
        """Constructor keyword arguments (plain Python values) that rebuild this model."""
        raise NotImplementedError(f"{type(self).__name__} must implement config()")

    def forward(self, data: Data | Batch, compute_stress: bool = False) -> dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    # ------------------------------------------------------------------ helpers
    def prepare(self, data: Data | Batch, prune: bool = True) -> Data | Batch:
        """Validate species and cutoffs and build the flexible graph (cached ``r_max`` search).

        Args:
            data: a ``Data`` or ``Batch``; ``cutoff`` (``[num_nodes]`` or scalar, may require
                grad) defaults to ``r_max``; missing ``cell``/``pbc``/``batch`` mean one
                non-periodic structure.
            prune (bool): prune to the per-atom cutoffs (default). ``False`` keeps every
                ``r_max`` edge and lets the envelope alone switch edges off (same energies,
                more work; used by tests and by the cutoff optimizer).

        Returns:
            A shallow copy of ``data``, its positions, cell and cutoffs cast to the model's
            floating dtype, with ``batch``, ``cell``, ``pbc``, ``cutoff``,
            ``edge_index``, ``edge_shift`` set (the caller's object is not modified). An
            ``r_max`` search cached on ``data`` by :class:`~pyg_fcl.transforms.FlexibleRadiusGraph`
            is reused; without one, every call searches (a cache that silently outlived moved
            atoms would be wrong; MD goes through :class:`~pyg_fcl.FCLCalculator`'s Verlet skin).
        """
        data = copy.copy(data)
        dtype = self.atomic_energies.dtype  # follows .double() / .to(dtype)
        for key in ("pos", "cell", "cutoff"):
            value = getattr(data, key, None)
            if isinstance(value, Tensor) and value.is_floating_point() and value.dtype != dtype:
                setattr(data, key, value.to(dtype))  # differentiable cast
        z = data.z
        if z.dtype != torch.long:
            raise ValueError(f"data.z must be an integer tensor of atomic numbers, got {z.dtype}")
        if z.numel() and (
            z.min() < 1 or z.max() >= _MAX_Z or not bool(self.known_elements[z].all())
        ):
            unknown = sorted({int(v) for v in z[~self.known_elements[z.clamp(0, _MAX_Z - 1)]]})
            raise ValueError(
                f"structure contains elements {unknown} that the model does not know "
                f"(known: {self.elements})"
            )
        if getattr(data, "batch", None) is None:
            data.batch = torch.zeros(z.numel(), dtype=torch.long, device=z.device)
        num_graphs = int(data.num_graphs) if isinstance(data, Batch) else 1
        if getattr(data, "cell", None) is None:
            data.cell = torch.zeros(num_graphs, 3, 3, dtype=data.pos.dtype, device=z.device)
        if getattr(data, "pbc", None) is None:
            data.pbc = torch.zeros(num_graphs, 3, dtype=torch.bool, device=z.device)
        cutoff = getattr(data, "cutoff", None)
        if cutoff is None:
            cutoff = torch.full_like(data.pos[:, 0], self.r_max)
        cutoff = torch.as_tensor(cutoff, dtype=data.pos.dtype, device=data.pos.device)
        if cutoff.dim() == 0:
            cutoff = cutoff.expand(z.numel())
        validate_cutoff(cutoff.detach(), self.r_max, z.numel())
        data.cutoff = cutoff
        if prune:
            return self.graph(data)
        data = self.graph(data)  # ensures the r_max cache exists
        data.edge_index = data.rmax_edge_index
        data.edge_shift = data.rmax_edge_shift
        return data

    def edge_cutoff(self, data: Data | Batch) -> Tensor:
        """Per-edge cutoff ``[num_edges]`` from ``data.cutoff``, differentiable in the cutoffs."""
        return compute_edge_cutoff(data.cutoff, data.edge_index, self.edge_rule)

    def normalize_energy(self, node_energy: Tensor, z: Tensor) -> Tensor:
        """``scale * raw + shift + E0[z]``: per-atom energies ``[num_nodes]`` in eV."""
        e0 = self.atomic_energies.to(node_energy.dtype)[z]
        return (
            node_energy * self.energy_scale.to(node_energy.dtype)
            + self.energy_shift.to(node_energy.dtype)
            + e0
        )

    @torch.no_grad()
    def set_energy_normalization(
        self,
        atomic_energies: dict[int, float] | None = None,
        scale: float | None = None,
        shift: float | None = None,
    ) -> None:
        """Set per-element reference energies (eV), the scale and the per-atom shift."""
        if atomic_energies is not None:
            for z, e in atomic_energies.items():
                if int(z) not in self.elements:
                    raise ValueError(f"reference energy for element {z}, not in {self.elements}")
                self.atomic_energies[int(z)] = float(e)
        if scale is not None:
            if not scale > 0:
                raise ValueError(f"energy scale must be > 0, got {scale}")
            self.energy_scale.fill_(float(scale))
        if shift is not None:
            self.energy_shift.fill_(float(shift))

    def extra_repr(self) -> str:
        return (
            f"r_min={self.r_min}, r_max={self.r_max}, edge_rule={self.edge_rule!r}, "
            f"elements={self.elements}"
        )
