"""ASE calculator for FCL models, with per-atom cutoffs and a Verlet-skin neighbour list.

The neighbour search runs at ``max(cutoff) + skin`` (at most ``r_max + skin``) and is reused
across calls (MD steps): each call recomputes the distances of the listed pairs from the current
positions and keeps those below the largest cutoff as the model's ``r_max`` graph (a
:class:`~pyg_fcl.graph.RMaxGraph` from the :class:`~pyg_fcl.graph.SkinNeighborList`, the list
the MD engines use too); the model prunes that to the per-atom cutoffs. No pair within that
cutoff can be missing while no atom has moved more than ``skin / 2`` since the search (a pair's
distance changes by at most the sum of the two displacements), so the model sees exactly the
edges it would see with a fresh search. The list is rebuilt when an atom moved further (a jump
by a lattice vector, i.e. wrapping into the cell, does not count), when the cutoffs grew, or
when the cell, the periodicity or the atoms changed. (Pairs beyond the largest cutoff are left
out of the cache: a model run with ``prune=False`` would only have given them a zero envelope.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress
from torch import Tensor
from torch_geometric.data import Data

from .data.sanity import check_structure
from .graph import (
    CutoffsLike,
    CutoffSpec,
    RMaxGraph,
    SkinNeighborList,
    per_atom_cutoffs,
    prepare_cutoffs,
)

__all__ = ["FCLCalculator"]


class FCLCalculator(Calculator):
    """ASE calculator: energy, forces, stress (periodic) and free energy of an FCL model.

    Args:
        model: an FCL model (``r_max``, ``edge_rule``; ``model(data, compute_stress)``).
        cutoffs: anything :func:`~pyg_fcl.graph.resolve_cutoffs` takes: ``None`` (``r_max``
            everywhere), one global cutoff (float), a mapping element (symbol or atomic number)
            -> cutoff, a :class:`~pyg_fcl.CutoffSpec`, a per-atom array ``[num_atoms]``, or the
            path of a cutoffs JSON file. Every cutoff must be in ``[r_min, r_max]`` of the model
            (below ``r_min`` only with ``model.allow_below_r_min = True``).
        device (str or torch.device): where the model runs.
        skin (float): Verlet skin (Å); the neighbour list is searched at the largest cutoff plus
            ``skin`` and rebuilt once an atom moved more than ``skin / 2``. ``0`` rebuilds on
            every move.
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
        **kwargs: passed to :class:`ase.calculators.calculator.Calculator`.

    Attributes:
        stats (dict): ``calls``, ``builds`` (neighbour searches), ``seconds`` (total in
            :meth:`calculate`), ``last_num_edges`` (edges the model saw in the last call).

    Example::

        atoms.calc = FCLCalculator(load_model("model.pt"), cutoffs={"H": 3.8, "C": 4.6, "O": 4.4})
        atoms.get_forces()
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        model: torch.nn.Module,
        cutoffs: CutoffsLike = None,
        device: str | torch.device = "cpu",
        skin: float = 0.5,
        neighbor_backend: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.neighbors = SkinNeighborList(skin, backend=neighbor_backend)  # checks the skin
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.r_max = float(model.r_max)
        self.dtype = next((p.dtype for p in model.parameters()), torch.get_default_dtype())
        self.cutoffs = prepare_cutoffs(cutoffs, self.model, source="calculator cutoffs")
        self.stats = {"calls": 0, "builds": 0, "seconds": 0.0, "last_num_edges": 0}

    @property
    def skin(self) -> float:
        """Verlet skin (Å) of the neighbour list."""
        return self.neighbors.skin

    @property
    def neighbor_backend(self) -> str:
        """Backend of the neighbour search."""
        return self.neighbors.backend

    # ------------------------------------------------------------------ cutoffs
    def set_cutoffs(self, cutoffs: CutoffsLike) -> None:
        """Replace the cutoffs (the neighbour list stays valid)."""
        self.cutoffs = prepare_cutoffs(cutoffs, self.model, source="calculator cutoffs")
        self.results = {}

    @property
    def spec(self) -> CutoffSpec | None:
        """The cutoffs as a :class:`~pyg_fcl.CutoffSpec` when they were given as one (or as a
        mapping or file), else ``None``."""
        return self.cutoffs if isinstance(self.cutoffs, CutoffSpec) else None

    def cutoff_tensor(self, atoms: Atoms) -> Tensor:
        """Per-atom cutoffs ``[num_atoms]`` for ``atoms`` (:func:`~pyg_fcl.graph.resolve_cutoffs`).

        A per-atom spec for one cell also applies to supercells made by ``atoms.repeat`` (whole
        copies of the cell, atoms in the same order): its values are tiled.
        """
        z = torch.as_tensor(atoms.numbers, dtype=torch.long)
        cutoff = per_atom_cutoffs(
            self.cutoffs, z, self.model, dtype=self.dtype, source="calculator cutoffs"
        )
        return cutoff.to(self.device)

    # ------------------------------------------------------------------ neighbour list
    def graph_data(self, atoms: Atoms) -> Data:
        """The model input for ``atoms``: fields plus the ``r_max`` graph cache from the skin list.

        The list is searched at ``max(cutoff) + skin`` and the cache holds the pairs closer than
        ``max(cutoff)``: every edge the model keeps under any edge rule, and no more.

        Returns:
            Data: ``z``, ``pos``, ``cell`` ``[1, 3, 3]``, ``pbc`` ``[1, 3]``, ``batch``,
            ``cutoff`` ``[num_atoms]`` and the cached :class:`~pyg_fcl.graph.RMaxGraph`.
        """
        if len(atoms) == 0:
            raise ValueError("FCLCalculator: the structure has no atoms")
        pos = torch.as_tensor(atoms.positions, dtype=self.dtype, device=self.device)
        cell = torch.as_tensor(np.asarray(atoms.cell[:]), dtype=self.dtype, device=self.device)
        cell = cell.reshape(1, 3, 3)
        pbc = torch.as_tensor(atoms.pbc, dtype=torch.bool, device=self.device).reshape(1, 3)
        cutoff = self.cutoff_tensor(atoms)
        # Every edge rule gives edge cutoffs <= the largest atom cutoff, so the search and the
        # cached graph only need to reach that (plus the skin), not r_max.
        reach = float(cutoff.max()) if cutoff.numel() else self.r_max
        z = torch.as_tensor(atoms.numbers, dtype=torch.long, device=self.device)
        batch = torch.zeros(len(atoms), dtype=torch.long, device=self.device)
        rmax = self.neighbors.graph(
            pos,
            cell,
            pbc,
            batch,
            z,
            reach,
            complete_to=self.r_max,
            # non-finite positions, overlapping atoms, absurd density: a clear error, not NaN
            before_search=lambda: check_structure(
                atoms.positions, np.asarray(atoms.cell[:]), atoms.pbc, where="atoms"
            ),
        )
        self.stats["builds"] = self.neighbors.stats["builds"]
        data = Data(z=z, pos=pos, cell=cell, pbc=pbc, batch=batch, cutoff=cutoff)
        return rmax.attach(data)

    # ------------------------------------------------------------------ ASE
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        start = time.perf_counter()
        atoms = self.atoms
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a structure periodic in 3 directions")
        data = self.graph_data(atoms)
        with torch.no_grad():  # forces by autograd inside the model; no graph kept
            out = self.model(data, compute_stress=want_stress)
        energy = float(out["energy"].detach().reshape(-1)[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().cpu().double().numpy().reshape(-1, 3),
        }
        if want_stress:
            stress = out["stress"].detach().cpu().double().numpy().reshape(3, 3)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        self.stats["calls"] += 1
        self.stats["seconds"] += time.perf_counter() - start
        rmax = RMaxGraph.cached(data)
        self.stats["last_num_edges"] = rmax.num_kept(data.cutoff, self.model.edge_rule)
