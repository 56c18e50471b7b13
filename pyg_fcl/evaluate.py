"""Errors of a model against reference labels, per subset, with the pairs per atom it ran.

:func:`evaluate` runs a model with hard pruning (its ordinary forward pass) at given cutoffs and
reports, for all structures and per ``data.subset``:

* ``energy_mae`` / ``energy_rmse``: of the energy per atom (eV/atom), over structures with an
  energy label;
* ``forces_mae`` / ``forces_rmse``: over Cartesian force components (eV/Å) of structures with
  force labels;
* ``stress_mae`` / ``stress_rmse``: over the 9 stress components (eV/Å³) of periodic structures
  with a stress label and non-zero ``stress_weight`` (``None`` when there are none);
* ``pairs_per_atom``: directed edges of the pruned graph the model ran, divided by the atoms.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from .device import resolve_device  # noqa: F401  (re-exported; it lived here)
from .graph import CutoffsLike, RMaxGraph, resolve_cutoffs

__all__ = [
    "evaluate",
    "accumulate_errors",
    "summarize_errors",
    "ErrorSums",
    "resolve_structure_cutoffs",
    "resolve_device",
]

# Slots of the per-subset sum vector (private: use ErrorSums).
_N_E, _AE, _SE, _N_F, _AF, _SF, _N_S, _AS, _SS, _ATOMS, _EDGES, _STRUCTS = range(12)
_NUM = 12


class ErrorSums(dict):
    """Additive error sums per group (``{name: [12] float64 tensor}``), what
    :func:`accumulate_errors` returns: sums of structures, atoms, pairs and absolute and squared
    energy / force / stress errors with their label counts. Sums of disjoint sets of structures
    add up, so they can be reduced across processes:

    .. code-block:: python

        table = all_reduce(sums.table(names))          # [len(names), width], summed over ranks
        metrics = ErrorSums.from_table(names, table).summary()
    """

    #: entries per group
    width = _NUM

    def table(self, names: Sequence[str]) -> Tensor:
        """``[len(names), width]`` float64: the groups in ``names`` order (zeros when absent)."""
        zero = torch.zeros(_NUM, dtype=torch.float64)
        if not names:
            return zero.reshape(0, _NUM)
        return torch.stack([self.get(n, zero) for n in names])

    @classmethod
    def from_table(cls, names: Sequence[str], table: Tensor) -> ErrorSums:
        """Inverse of :meth:`table`; groups without any structure are dropped."""
        return cls({n: table[k] for k, n in enumerate(names) if table[k, _STRUCTS] > 0})

    def summary(self) -> dict:
        """Metrics ``{"overall": ..., "subsets": ...}`` (see :func:`evaluate`)."""
        return summarize_errors(self)


def resolve_structure_cutoffs(
    cutoffs: CutoffsLike,
    structures: Sequence[Data],
    index: int,
    r_max: float,
    r_min: float | None = None,
    allow_below_r_min: bool = True,
    data: Data | None = None,
) -> Tensor:
    """Per-atom cutoffs ``[num_nodes]`` of ``structures[index]``.

    Args:
        cutoffs: ``None`` (``r_max`` everywhere), a number (global cutoff), a
            :class:`~pyg_fcl.CutoffSpec` (global, per element or per atom), a mapping
            ``{atomic number: cutoff}``, or a sequence of ``[num_nodes_i]`` tensors, one per
            structure (a bare ``[num_nodes]`` tensor is accepted for a single structure).
        structures: the structures. index (int): which one. r_max (float): the model's.

        data (Data, optional): ``structures[index]`` when the caller already has it.
        r_min (float, optional): the model's trained minimum; below it is an error unless
            ``allow_below_r_min`` (see :func:`~pyg_fcl.graph.resolve_cutoffs`).

    Raises:
        ValueError: wrong number or shape of per-structure cutoffs (naming the structure).
    """
    data = structures[index] if data is None else data  # (a lazy dataset reads once)
    per_structure = (
        isinstance(cutoffs, Sequence)
        and not isinstance(cutoffs, (str, bytes))
        and len(cutoffs) > 0
        and all(isinstance(c, (Tensor, Sequence, np.ndarray)) for c in cutoffs)
    )
    if per_structure:
        if len(cutoffs) != len(structures):
            raise ValueError(
                f"got cutoffs for {len(cutoffs)} structures but {len(structures)} structures"
            )
        cutoffs = cutoffs[index]
    elif isinstance(cutoffs, Tensor) and cutoffs.numel() > 1 and len(structures) != 1:
        raise ValueError(
            f"a single cutoff tensor of shape {list(cutoffs.shape)} was given for "
            f"{len(structures)} structures; pass one tensor per structure"
        )
    if isinstance(cutoffs, Tensor):
        cutoffs = cutoffs.detach().reshape(-1)
    if isinstance(cutoffs, (Tensor, np.ndarray)) or (per_structure and cutoffs is not None):
        count = int(np.asarray(cutoffs.cpu() if isinstance(cutoffs, Tensor) else cutoffs).size)
        if count not in (1, data.num_nodes):
            raise ValueError(
                f"structure {index} has {data.num_nodes} atoms but {count} per-atom cutoffs "
                "were given"
            )
    return resolve_cutoffs(
        cutoffs,
        data.z.cpu(),
        r_max=r_max,
        r_min=r_min,
        allow_below_r_min=allow_below_r_min,
        dtype=torch.float64,
        device="cpu",
        source=f"cutoffs of structure {index}",
    )


def inference(model: torch.nn.Module, data, compute_stress: bool = False) -> dict[str, Tensor]:
    """Energies and forces (and stress) for evaluation: no autograd graph kept.

    A pyg-fcl model is called with ``create_graph=False``; a model whose ``forward`` has no
    such argument runs with gradients enabled (its forces come from autograd).
    """
    if "create_graph" in inspect.signature(model.forward).parameters:
        return model(data, compute_stress=compute_stress, create_graph=False)
    with torch.enable_grad():
        return model(data, compute_stress=compute_stress)


def _flag(batch: Batch, key: str, num_graphs: int) -> Tensor:
    if key not in batch:
        return torch.ones(num_graphs, dtype=torch.bool)
    return batch[key].reshape(-1).bool().cpu()


def accumulate_errors(
    model: torch.nn.Module,
    structures: Sequence[Data],
    cutoffs: CutoffsLike = None,
    *,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    compute_stress: bool | None = None,
    group_by: str = "subset",
) -> ErrorSums:
    """Error sums per subset (the additive part of :func:`evaluate`, e.g. to reduce over DDP).

    Returns:
        ErrorSums: subset name -> float64 sums (see :func:`summarize_errors`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if group_by != "subset" and structures and group_by not in structures[0]:
        fields = sorted(k for k in structures[0].keys() if isinstance(structures[0][k], str))
        raise ValueError(f"group_by={group_by!r} is not a field of the structures (have {fields})")
    dev = resolve_device(device)
    r_max = float(model.r_max)
    backend = getattr(getattr(model, "graph", None), "backend", "auto")  # the model's search
    if compute_stress is None:
        compute_stress = any(
            bool(d.has_stress.reshape(-1)[0]) for d in structures if "has_stress" in d
        )
    was_training = model.training
    model.eval()
    sums = ErrorSums()
    try:
        for start in range(0, len(structures), batch_size):
            items = []
            for index in range(start, min(start + batch_size, len(structures))):
                data = copy.copy(structures[index])
                cut = resolve_structure_cutoffs(cutoffs, structures, index, r_max, data=data)
                data.cutoff = cut.to(data.pos.dtype)
                items.append(data)
            batch = Batch.from_data_list(items).to(dev)
            _accumulate_batch(model, (r_max, backend), batch, compute_stress, group_by, sums)
    finally:
        model.train(was_training)
    return sums


def _accumulate_batch(
    model, search: tuple, batch: Batch, compute_stress: bool, group_by: str, sums: dict
) -> None:
    num_graphs = batch.num_graphs
    # the r_max graph is searched (and cached on the batch for the model) if not there yet; the
    # pairs the model will keep are counted from it, without pruning the batch a second time
    rmax = RMaxGraph.ensure(batch, *search)
    centres = rmax.edge_index[1][rmax.kept(batch.cutoff, model.edge_rule)]
    num_edges = torch.bincount(batch.batch[centres], minlength=num_graphs).cpu()
    out = inference(model, batch, compute_stress)
    energy = out["energy"].detach().double().cpu()
    forces = out["forces"].detach().double().cpu()
    graph_of = batch.batch.cpu()
    natoms = torch.bincount(graph_of, minlength=num_graphs).double()
    e_err = (energy - batch.energy.reshape(-1).double().cpu()) / natoms.clamp(min=1)
    has_e = _flag(batch, "has_energy", num_graphs)
    has_f = _flag(batch, "has_forces", num_graphs)
    f_err = forces - batch.forces.double().cpu()
    per_graph = torch.zeros(num_graphs, _NUM, dtype=torch.float64)
    per_graph[:, _N_E] = has_e.double()
    per_graph[:, _AE] = torch.where(has_e, e_err.abs(), 0.0)
    per_graph[:, _SE] = torch.where(has_e, e_err.square(), 0.0)
    atom_f = has_f[graph_of]
    per_graph[:, _N_F] = 3 * torch.bincount(graph_of[atom_f], minlength=num_graphs).double()
    per_graph[:, _AF].index_add_(0, graph_of[atom_f], f_err[atom_f].abs().sum(-1))
    per_graph[:, _SF].index_add_(0, graph_of[atom_f], f_err[atom_f].square().sum(-1))
    if compute_stress and "stress" in out and "stress" in batch:
        has_s = _flag(batch, "has_stress", num_graphs) & batch.pbc.reshape(-1, 3).cpu().any(-1)
        if "stress_weight" in batch:
            has_s &= batch.stress_weight.reshape(-1).cpu() > 0
        s_err = (
            out["stress"].detach().double().cpu() - batch.stress.reshape(-1, 3, 3).double().cpu()
        )
        per_graph[:, _N_S] = 9 * has_s.double()
        per_graph[:, _AS] = torch.where(has_s, s_err.abs().sum((1, 2)), 0.0)
        per_graph[:, _SS] = torch.where(has_s, s_err.square().sum((1, 2)), 0.0)
    per_graph[:, _ATOMS] = natoms
    per_graph[:, _EDGES] = num_edges.double()
    per_graph[:, _STRUCTS] = 1.0
    subsets = batch[group_by] if group_by in batch else [""] * num_graphs
    if isinstance(subsets, str):
        subsets = [subsets]
    for g, name in enumerate(subsets):
        key = str(name) or "unlabelled"
        if key not in sums:
            sums[key] = torch.zeros(_NUM, dtype=torch.float64)
        sums[key] += per_graph[g]


def _ratio(num: float, den: float, root: bool = False) -> float | None:
    if den <= 0:
        return None
    value = num / den
    return math.sqrt(value) if root else value


def _metrics(s: Tensor) -> dict[str, float | int | None]:
    s = s.tolist()
    return {
        "num_structures": int(s[_STRUCTS]),
        "num_atoms": int(s[_ATOMS]),
        "energy_mae": _ratio(s[_AE], s[_N_E]),
        "energy_rmse": _ratio(s[_SE], s[_N_E], root=True),
        "forces_mae": _ratio(s[_AF], s[_N_F]),
        "forces_rmse": _ratio(s[_SF], s[_N_F], root=True),
        "stress_mae": _ratio(s[_AS], s[_N_S]),
        "stress_rmse": _ratio(s[_SS], s[_N_S], root=True),
        "pairs_per_atom": _ratio(s[_EDGES], s[_ATOMS]),
    }


def summarize_errors(sums: Mapping[str, Tensor]) -> dict:
    """Turn :func:`accumulate_errors` sums into metrics (``{"overall": ..., "subsets": ...}``)."""
    total = torch.zeros(_NUM, dtype=torch.float64)
    for value in sums.values():
        total += value
    return {
        "overall": _metrics(total),
        "subsets": {name: _metrics(sums[name]) for name in sorted(sums)},
    }


def evaluate(
    model: torch.nn.Module,
    structures: Sequence[Data],
    cutoffs: CutoffsLike = None,
    *,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    compute_stress: bool | None = None,
    group_by: str = "subset",
) -> dict:
    """Energy, force and stress errors of ``model`` on ``structures`` at ``cutoffs``.

    The model runs its ordinary (hard-pruned) forward pass in eval mode; structures that carry a
    cached ``r_max`` graph (``FlexibleRadiusGraph.build_cache``) skip the neighbour search.

    Args:
        model: a pyg-fcl model (``r_max``, ``edge_rule``, forward returning ``energy``
            ``[num_graphs]`` and ``forces`` ``[num_nodes, 3]``).
        structures: labelled structures (``energy`` ``[1]``, ``forces`` ``[N, 3]``, optional
            ``stress`` ``[1, 3, 3]`` and masks as written by :func:`pyg_fcl.read_structures`).
        cutoffs: ``None`` (``r_max``), a global cutoff, a :class:`~pyg_fcl.CutoffSpec`, a
            mapping ``{Z: cutoff}``, or one ``[num_nodes_i]`` tensor per structure.
        batch_size (int): structures per forward pass.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``; the model must already
            be on it.
        compute_stress (bool, optional): default: when any structure has a stress label.
        group_by (str): the string field that names a structure's group (default ``subset``;
            e.g. ``"system"`` for the molecular crystals).

    Returns:
        dict: ``{"overall": metrics, "subsets": {name: metrics}}``; metrics hold
        ``num_structures``, ``num_atoms``, ``energy_mae``, ``energy_rmse`` (eV/atom),
        ``forces_mae``, ``forces_rmse`` (eV/Å), ``stress_mae``, ``stress_rmse`` (eV/Å³; ``None``
        without labels) and ``pairs_per_atom``. Structures without ``subset`` count as
        ``"unlabelled"``; groups are keyed by ``data.<group_by>``.
    """
    if len(structures) == 0:
        raise ValueError("evaluate() got no structures")
    sums = accumulate_errors(
        model,
        structures,
        cutoffs,
        batch_size=batch_size,
        device=device,
        compute_stress=compute_stress,
        group_by=group_by,
    )
    return summarize_errors(sums)
