"""Reading training data, random splits, and dataset statistics that models are built from."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch_geometric.data import Data

from ..data import read_mad, read_structures
from ..transforms import FlexibleRadiusGraph

__all__ = ["read_training_data", "split_structures", "dataset_elements", "average_num_neighbors"]


def read_training_data(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    subsets: Sequence[str] | None = None,
    **read_kwargs,
) -> list[Data]:
    """Read structures from extxyz files and/or MAD-layout directories.

    Args:
        paths: files or directories; a directory means every ``*.xyz``/``*.extxyz`` in it,
            in sorted order.
        subsets: keep only these MAD subsets (any spelling :func:`pyg_fcl.normalize_subset`
            accepts); needs ``info["subset"]`` on every frame.
        **read_kwargs: passed to :func:`pyg_fcl.read_structures` (``energy_key``,
            ``forces_key``, ``stress_key``, ``allow_missing_forces``, ``index``, ...).

    Returns:
        list[Data]: the structures, file by file in the given order.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ValueError("no data files given")
    out: list[Data] = []
    for item in items:
        path = Path(item)
        if subsets:
            out.extend(read_mad(path, subsets, **read_kwargs))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".xyz", ".extxyz"))
            if not files:
                raise ValueError(f"directory {str(path)!r} holds no .xyz or .extxyz files")
            for file in files:
                out.extend(read_structures(file, **read_kwargs))
        else:
            if not path.is_file():
                raise ValueError(f"data file {str(path)!r} does not exist")
            out.extend(read_structures(path, **read_kwargs))
    if not out:
        raise ValueError(f"no structures read from {[str(i) for i in items]} (subsets {subsets})")
    return out


def split_structures(
    structures: Sequence[Data], fraction: float, seed: int = 0
) -> tuple[list[Data], list[Data]]:
    """Random split into ``(rest, held_out)`` with ``round(fraction * len)`` held out (>= 1)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction!r}")
    if len(structures) < 2:
        raise ValueError(f"cannot split {len(structures)} structure(s)")
    n_out = min(max(1, round(fraction * len(structures))), len(structures) - 1)
    perm = torch.randperm(len(structures), generator=torch.Generator().manual_seed(seed)).tolist()
    held = sorted(perm[:n_out])
    rest = sorted(perm[n_out:])
    return [structures[i] for i in rest], [structures[i] for i in held]


def dataset_elements(*datasets: Sequence[Data]) -> list[int]:
    """Sorted atomic numbers present in the given datasets."""
    found: set[int] = set()
    for dataset in datasets:
        for data in dataset:
            found.update(int(z) for z in data.z.unique())
    return sorted(found)


def average_num_neighbors(
    structures: Sequence[Data], cutoff: float, edge_rule: str = "mean", max_structures: int = 1000
) -> float:
    """Mean number of neighbours per atom at a global ``cutoff`` (MACE's normalisation).

    Uses at most ``max_structures`` evenly spaced structures.
    """
    if not structures:
        raise ValueError("average_num_neighbors got no structures")
    step = max(1, len(structures) // max_structures)
    graph = FlexibleRadiusGraph(cutoff, edge_rule=edge_rule)
    edges = atoms = 0
    for data in list(structures)[::step]:
        data = data.clone()
        for key in ("cutoff", "rmax_edge_index", "rmax_edge_shift", "rmax_edge_length"):
            if key in data:
                del data[key]
        edges += graph(data).edge_index.size(1)
        atoms += data.num_nodes
    return edges / max(atoms, 1)
