"""Reading training data, random splits, and dataset statistics that models are built from."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from torch_geometric.data import Data

from ..data import normalize_subset, read_mad, read_structures
from ..data.packed import PackedDataset, packed_parts
from ..data.packed_format import is_packed_file
from ..data.views import ConcatStructures, IndexedStructures, is_lazy
from ..graph import RMaxGraph
from ..transforms import FlexibleRadiusGraph

__all__ = ["read_training_data", "split_structures", "dataset_elements", "average_num_neighbors"]


def _read_packed(path: Path, subsets: Sequence[str] | None, read_kwargs: dict):
    dataset = PackedDataset(path, dtype=read_kwargs.get("dtype"))
    for key, value in read_kwargs.items():
        stored = dataset.label_keys.get(key.removesuffix("_key"))
        if key.endswith("_key") and stored is not None and stored != value:
            raise ValueError(
                f"packed dataset {str(path)!r} was packed with {key}={stored!r}, not {value!r} "
                "(labels are read at packing time: pack it again with the keys you want)"
            )
    if not subsets:
        return dataset
    wanted = [normalize_subset(name) for name in subsets]
    return dataset.select_subsets(wanted, canonical=partial(normalize_subset, strict=False))


def read_training_data(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    subsets: Sequence[str] | None = None,
    **read_kwargs,
) -> Sequence[Data]:
    """Read structures from extxyz files, MAD-layout directories and packed datasets.

    Args:
        paths: files or directories; a directory means every ``*.xyz``/``*.extxyz`` in it,
            in sorted order. A packed dataset (``.h5``, written by ``pyg-fcl data pack``) is
            opened lazily (:class:`~pyg_fcl.data.PackedDataset`): nothing is read until used.
        subsets: keep only these MAD subsets (any spelling :func:`pyg_fcl.normalize_subset`
            accepts); needs ``info["subset"]`` on every frame.
        **read_kwargs: passed to :func:`pyg_fcl.read_structures` (``energy_key``,
            ``forces_key``, ``stress_key``, ``allow_missing_forces``, ``index``, ...); for a
            packed dataset the label keys must be those it was packed with.

    Returns:
        Sequence[Data]: the structures, file by file in the given order: a ``list`` when all
        come from structure files, else a lazy :class:`~pyg_fcl.data.views.ConcatStructures`.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ValueError("no data files given")
    out: list[Data] = []
    parts: list[Sequence[Data]] = []
    for item in items:
        path = Path(item)
        if path.is_file() and is_packed_file(path):
            if out:
                parts.append(out)
            parts.append(_read_packed(path, subsets, read_kwargs))
            out = []
        elif subsets:
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
    if parts:
        if out:
            parts.append(out)
        out = parts[0] if len(parts) == 1 else ConcatStructures(parts)
    if not len(out):
        raise ValueError(f"no structures read from {[str(i) for i in items]} (subsets {subsets})")
    return out


def split_structures(
    structures: Sequence[Data], fraction: float, seed: int = 0
) -> tuple[Sequence[Data], Sequence[Data]]:
    """Random split into ``(rest, held_out)`` with ``round(fraction * len)`` held out (>= 1).

    Lists give lists; a lazy dataset (e.g. a packed file) gives two lazy views of it.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction!r}")
    if len(structures) < 2:
        raise ValueError(f"cannot split {len(structures)} structure(s)")
    n_out = min(max(1, round(fraction * len(structures))), len(structures) - 1)
    perm = torch.randperm(len(structures), generator=torch.Generator().manual_seed(seed)).tolist()
    held = sorted(perm[:n_out])
    rest = sorted(perm[n_out:])
    if is_lazy(structures):
        return IndexedStructures(structures, rest), IndexedStructures(structures, held)
    return [structures[i] for i in rest], [structures[i] for i in held]


def dataset_elements(*datasets: Sequence[Data]) -> list[int]:
    """Sorted atomic numbers present in the given datasets.

    A dataset that knows its elements (a whole packed file) is not read; views of packed files
    read only the atomic numbers.
    """
    found: set[int] = set()
    for dataset in datasets:
        known = getattr(dataset, "elements", None)
        if known is not None and not isinstance(dataset, Data):
            found.update(int(z) for z in known)
            continue
        parts = packed_parts(dataset)
        if parts is not None:  # views of packed files: read only the z column
            for root, rows in parts:
                found.update(root.present_elements(rows))
            continue
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
    for index in range(0, len(structures), step):
        data = RMaxGraph.clear(structures[index].clone())
        if "cutoff" in data:
            del data["cutoff"]
        edges += graph(data).edge_index.size(1)
        atoms += data.num_nodes
    return edges / max(atoms, 1)
