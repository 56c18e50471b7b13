"""The model template every pyg-fcl backbone fills in.

A pyg-fcl model is an :class:`FCLModel`: ``forward(data, compute_stress=False, prune=True,
create_graph=None)`` takes a PyG ``Data``/``Batch`` with ``z``, ``pos``, ``cell``, ``pbc`` and
optionally per-atom ``cutoff`` and returns a dict with ``energy`` ``[num_graphs]``,
``node_energy`` ``[num_nodes]``, ``forces`` ``[num_nodes, 3]`` and, when asked, ``stress``
``[num_graphs, 3, 3]``.

The base class does everything that is not the backbone, once:

* validation of species and cutoffs (:func:`~pyg_fcl.graph.resolve_cutoffs`),
* the flexible graph (the cached :class:`~pyg_fcl.graph.RMaxGraph`, searched once at ``r_max``
  and pruned to the per-atom cutoffs under ``edge_rule``),
* strain, edge vectors, edge cutoffs and the envelope ``u(r_ij / edge_cutoff_ij)``,
* the energy normalisation (per-element reference energies, scale and shift) that the trainer
  fits from data, the sum per structure, and forces and stress by autograd,
* the trained cutoff range ``[r_min, r_max]``, the known ``elements`` and the constructor config
  that checkpoints store (see :mod:`pyg_fcl.checkpoint`).

A backbone implements two methods::

    class MyModel(FCLModel):
        def config(self) -> dict:                      # constructor kwargs, plain values
            ...
        def node_energy(self, graph: ModelGraph) -> Tensor:   # raw per-atom energy [N]
            ...

``graph`` is a :class:`~pyg_fcl.graph.ModelGraph` (tensors only: ``z``, ``pos``, ``batch``,
``num_graphs``, ``cutoff``, ``edge_index``, ``edge_vec``, ``edge_length``, ``edge_cutoff``,
``envelope``). docs/byom.md has a complete learnable pair potential in ~30 lines.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from .graph import ModelGraph, RMaxGraph, compute_edge_cutoff, resolve_cutoffs
from .neighbors import edge_vectors
from .nn.autograd import apply_strain, forces_and_stress
from .nn.envelope import PolynomialEnvelope
from .transforms import FlexibleRadiusGraph

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
        envelope (nn.Module, optional): ``envelope(r [E], r_c [E]) -> [E]``, 1 near 0, 0 at and
            beyond ``r_c``, smooth and differentiable in both (default
            :class:`~pyg_fcl.nn.PolynomialEnvelope` with ``p = 5``).

    Attributes:
        allow_below_r_min (bool): accept cutoffs below ``r_min`` (extrapolation; a warning is
            issued). ``False`` by default: such cutoffs are an error.
    """

    def __init__(
        self,
        r_max: float,
        r_min: float | None = None,
        edge_rule: str = "mean",
        elements: Sequence[int] = (),
        neighbor_backend: str = "auto",
        envelope: nn.Module | None = None,
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
        self.envelope = PolynomialEnvelope(5) if envelope is None else envelope
        self.allow_below_r_min = False
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

    def node_energy(self, graph: ModelGraph) -> Tensor:
        """Raw per-atom energies ``[num_nodes]`` (before normalisation) of the backbone.

        Args:
            graph (ModelGraph): the pruned graph with edge vectors, lengths, cutoffs and
                envelopes (see :class:`~pyg_fcl.graph.ModelGraph`); gradients flow from
                ``graph.pos`` and ``graph.cutoff``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement node_energy(graph)")

    def forward(
        self,
        data: Data | Batch,
        compute_stress: bool = False,
        prune: bool = True,
        create_graph: bool | None = None,
    ) -> dict[str, Tensor]:
        """Energies, forces (and stress) of a structure or a batch.

        Args:
            data: ``z`` ``[N]``, ``pos`` ``[N, 3]``, optional ``cell`` ``[G, 3, 3]``, ``pbc``
                ``[G, 3]``, ``cutoff`` ``[N]`` or scalar (may require grad), ``batch`` ``[N]``,
                and optionally a cached ``r_max`` graph (:class:`~pyg_fcl.graph.RMaxGraph`).
            compute_stress (bool): also return ``stress`` ``[G, 3, 3]`` (eV/Å³, ASE sign).
            prune (bool): prune the ``r_max`` graph to the cutoffs (default). ``False`` keeps
                every ``r_max`` edge and lets the envelope switch them off (same result, more
                work).
            create_graph (bool, optional): keep the autograd graph of the forces and stress, so
                they can be differentiated again (training on forces, cutoff optimization).
                ``None`` (default): only where something needs it, with gradients enabled by
                the caller: when ``data.cutoff`` requires grad (cutoff optimization), or when
                training (``model.train()``) parameters that require grad (a loss on forces).
                Inference (``model.eval()``, MD, evaluation) keeps no second-order graph. Under
                ``torch.no_grad()`` the outputs are detached.

        Returns:
            dict: ``energy`` ``[G]``, ``node_energy`` ``[N]``, ``forces`` ``[N, 3]`` and,
            when asked, ``stress`` ``[G, 3, 3]``.
        """
        grad_outside = torch.is_grad_enabled()
        with torch.enable_grad():
            graph, geometry = self.model_graph(data, compute_stress=compute_stress, prune=prune)
            raw = self.node_energy(graph)
            if not isinstance(raw, Tensor) or raw.shape != (graph.num_nodes,):
                got = list(raw.shape) if isinstance(raw, Tensor) else type(raw).__name__
                raise ValueError(
                    f"{type(self).__name__}.node_energy must return [num_nodes] = "
                    f"[{graph.num_nodes}], got {got}"
                )
            node_energy = self.normalize_energy(raw, graph.z)
            energy = node_energy.new_zeros(graph.num_graphs).index_add(0, graph.batch, node_energy)
            if create_graph is None:
                create_graph = grad_outside and (
                    graph.cutoff.requires_grad or (self.training and self._trainable())
                )
            forces, stress = forces_and_stress(energy, geometry, create_graph=bool(create_graph))
        out = {"energy": energy, "node_energy": node_energy, "forces": forces}
        if compute_stress:
            out["stress"] = stress
        if not grad_outside:
            out = {k: v.detach() for k, v in out.items()}
        return out

    def _trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def model_graph(self, data: Data | Batch, compute_stress: bool = False, prune: bool = True):
        """The :class:`~pyg_fcl.graph.ModelGraph` a backbone gets, and the strained geometry.

        Returns:
            tuple: ``(graph, geometry)``; ``geometry`` is the
            :class:`~pyg_fcl.nn.StrainedGeometry` that forces and stress are taken from.
        """
        data = self.prepare(data, prune=prune)
        cell = data.cell.reshape(-1, 3, 3)
        num_graphs = cell.size(0)
        geometry = apply_strain(data.pos, cell, data.batch, num_graphs, compute_stress)
        vec = edge_vectors(
            geometry.pos, data.edge_index, data.edge_shift, geometry.cell, data.batch
        )
        length = torch.linalg.vector_norm(vec, dim=-1)
        edge_cutoff = data.edge_cutoff.to(length.dtype)
        graph = ModelGraph(
            z=data.z,
            pos=geometry.pos,
            batch=data.batch,
            num_graphs=num_graphs,
            cutoff=data.cutoff,
            edge_index=data.edge_index,
            edge_vec=vec,
            edge_length=length,
            edge_cutoff=edge_cutoff,
            envelope=self.envelope(length, edge_cutoff),
        )
        return graph, geometry

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
            floating dtype, with ``batch``, ``cell``, ``pbc``, ``cutoff``, ``edge_index``,
            ``edge_shift``, ``edge_cutoff``, ``edge_length`` set (the caller's object is not
            modified). An ``r_max`` search cached on ``data`` (:class:`~pyg_fcl.graph.RMaxGraph`)
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
        data.cutoff = resolve_cutoffs(
            getattr(data, "cutoff", None),
            z,
            r_max=self.r_max,
            r_min=self.r_min,
            allow_below_r_min=self.allow_below_r_min,
            dtype=data.pos.dtype,
            device=data.pos.device,
            batch=data.batch if num_graphs > 1 else None,
            source="data.cutoff",
        )
        rmax = RMaxGraph.ensure(data, self.r_max, self.graph.backend)
        pruned = (
            rmax.prune(data.cutoff, self.edge_rule)
            if prune
            else rmax.unpruned(data.cutoff, self.edge_rule)
        )
        data.edge_index, data.edge_shift = pruned.edge_index, pruned.edge_shift
        data.edge_cutoff, data.edge_length = pruned.edge_cutoff, pruned.edge_length
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
