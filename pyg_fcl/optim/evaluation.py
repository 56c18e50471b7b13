"""Hard-pruned evaluation of a model at given cutoffs: errors against labels and pairs per atom.

"Hard-pruned" means what deployment does: the graph keeps only edges with ``r < edge_cutoff``
(the model's ordinary forward pass), and the cutoffs are exactly the given ones. Pairs per atom
count the directed edges of that graph divided by the number of atoms.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..data import CutoffSpec
from ..transforms import FlexibleRadiusGraph, compute_edge_cutoff

__all__ = ["evaluate_cutoffs", "resolve_cutoffs"]


def resolve_cutoffs(
    cutoffs: CutoffSpec | float | Tensor | None, data: Data, r_max: float
) -> Tensor:
    """Per-atom cutoffs ``[num_nodes]`` of ``data`` from a spec, a number, a tensor or ``None``.

    ``None`` means ``r_max`` everywhere. Values are clamped to ``r_max`` when they exceed it by
    float rounding only (a spec saved in float64 of a float32 ``r_max``).
    """
    dtype = data.pos.dtype
    if cutoffs is None:
        out = torch.full((data.num_nodes,), r_max, dtype=dtype)
    elif isinstance(cutoffs, CutoffSpec):
        out = cutoffs.per_atom(data.z.cpu(), dtype=torch.float64)
    elif isinstance(cutoffs, Tensor):
        out = cutoffs.detach().reshape(-1).to(torch.float64)
        if out.numel() == 1:
            out = out.expand(data.num_nodes)
    else:
        out = torch.full((data.num_nodes,), float(cutoffs), dtype=torch.float64)
    if out.shape != (data.num_nodes,):
        raise ValueError(f"got {out.numel()} cutoffs for a structure of {data.num_nodes} atoms")
    if bool((out > r_max * (1 + 1e-9)).any()):
        atom = int((out > r_max * (1 + 1e-9)).nonzero()[0, 0])
        raise ValueError(f"cutoff {float(out[atom])} of atom {atom} exceeds r_max={r_max}")
    return out.clamp(max=r_max).to(dtype=dtype, device=data.pos.device)


def evaluate_cutoffs(
    model: torch.nn.Module,
    structures: Sequence[Data],
    cutoffs: CutoffSpec | float | Tensor | None = None,
    batch_size: int = 16,
) -> dict[str, float]:
    """Errors and cost of ``model`` on ``structures`` with hard pruning at ``cutoffs``.

    Args:
        model: an FCL model.
        structures (list[Data]): labelled structures (``energy``, ``forces``; frames whose
            ``has_energy`` / ``has_forces`` is False are left out of that error).
        cutoffs: a :class:`~pyg_fcl.data.CutoffSpec`, one global cutoff, a per-atom tensor
            ``[num_nodes]`` (every structure the same size), or ``None`` for ``r_max``.
        batch_size (int): structures per forward pass.

    Returns:
        dict: ``pairs_per_atom``, ``force_rmse``, ``force_mae`` (eV/Å, over force components),
        ``energy_mae_per_atom``, ``energy_rmse_per_atom`` (eV/atom), ``num_structures``,
        ``num_atoms``.
    """
    if not structures:
        raise ValueError("evaluate_cutoffs needs at least one structure")
    r_max = float(model.r_max)
    graph = FlexibleRadiusGraph(r_max, edge_rule=model.edge_rule)
    dtype = next((p.dtype for p in model.parameters()), torch.get_default_dtype())
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    edges = atoms = 0
    f_sq = f_abs = 0.0
    f_n = 0
    e_sq = e_abs = 0.0
    e_n = 0
    for start in range(0, len(structures), batch_size):
        items = []
        for s in structures[start : start + batch_size]:
            d = copy.copy(s).to(device)
            for key in ("pos", "cell", "energy", "forces"):
                if getattr(d, key, None) is not None and d[key].is_floating_point():
                    d[key] = d[key].to(dtype)
            d.cutoff = resolve_cutoffs(cutoffs, d, r_max)
            if not graph.is_cached(d, 1):
                graph.build_cache(d)
            items.append(d)
        batch = Batch.from_data_list(items)
        with torch.no_grad():
            edge_cutoff = compute_edge_cutoff(batch.cutoff, batch.rmax_edge_index, model.edge_rule)
            edges += int((batch.rmax_edge_length < edge_cutoff).sum())
        atoms += batch.num_nodes
        out = model(copy.copy(batch))
        energy, forces = out["energy"].detach(), out["forces"].detach()
        n = torch.bincount(batch.batch, minlength=batch.num_graphs).to(energy.dtype)
        e_mask = _flag(batch, "has_energy", batch.num_graphs)
        f_mask = _flag(batch, "has_forces", batch.num_graphs)[batch.batch]
        de = ((energy - batch.energy.reshape(-1)) / n)[e_mask]
        df = (forces - batch.forces)[f_mask]
        e_sq += float(de.pow(2).sum())
        e_abs += float(de.abs().sum())
        e_n += de.numel()
        f_sq += float(df.pow(2).sum())
        f_abs += float(df.abs().sum())
        f_n += df.numel()
    nan = math.nan
    return {
        "pairs_per_atom": edges / max(atoms, 1),
        "force_rmse": math.sqrt(f_sq / f_n) if f_n else nan,
        "force_mae": f_abs / f_n if f_n else nan,
        "energy_mae_per_atom": e_abs / e_n if e_n else nan,
        "energy_rmse_per_atom": math.sqrt(e_sq / e_n) if e_n else nan,
        "num_structures": len(structures),
        "num_atoms": atoms,
    }


def _flag(data: Data, key: str, size: int) -> Tensor:
    value = getattr(data, key, None)
    if value is None:
        return torch.ones(size, dtype=torch.bool, device=data.pos.device)
    return value.reshape(-1).bool()
