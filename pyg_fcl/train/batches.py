"""Data order, per-structure cutoff draws and batch assembly for training.

Everything random here is a pure function of ``(seed, epoch, structure index)``:

* the order of an epoch is ``randperm`` seeded by ``(seed, epoch)``;
* global batch ``k`` of an epoch is ``order[k*B:(k+1)*B]``; under DDP rank ``r`` of ``W`` takes
  its elements ``r::W`` (a distributed sampler whose global batches do not depend on ``W``);
* the FCL cutoffs of a structure are drawn by a :class:`~pyg_fcl.PerAtomCutoffSampler` whose
  generator is re-seeded from ``(seed, epoch, index)``.

So a resumed run (which only needs the epoch and the step within it), a run on any number of
processes and an uninterrupted single-process run see the same batches and the same cutoffs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from ..data.views import is_lazy
from ..transforms import FlexibleRadiusGraph, PerAtomCutoffSampler

__all__ = ["derive_seed", "epoch_batches", "GraphCache", "CutoffAssigner", "describe"]

_PRUNED_KEYS = ("edge_index", "edge_shift", "edge_cutoff", "edge_length", "cutoff")


def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integers (``numpy.random.SeedSequence``, well mixed)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0]
    return int(state) >> 1


def epoch_batches(
    num_structures: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[int]]:
    """Structure indices of this process's batches in one epoch.

    Args:
        num_structures (int): size of the training set.
        batch_size (int): global batch size (all processes together).
        seed (int), epoch (int): what the order is derived from.
        rank (int), world (int): this process and the number of processes. With ``world > 1``
            a final global batch smaller than ``world`` is dropped (a rank would be empty).

    Returns:
        list[list[int]]: one index list per step.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, epoch, 0))
    order = torch.randperm(num_structures, generator=gen).tolist()
    out = []
    for start in range(0, num_structures, batch_size):
        chunk = order[start : start + batch_size]
        if world > 1 and len(chunk) < world:
            break
        out.append(chunk[rank::world])
    return out


def describe(data: Data, index: int | None = None) -> str:
    """``source:frame`` of a structure (or its index when it has no provenance)."""
    source = getattr(data, "source", "") or ""
    frame = getattr(data, "frame", None)
    frame = int(frame.reshape(-1)[0]) if torch.is_tensor(frame) else frame
    if source:
        return f"{source}:{frame}"
    return f"structure #{index}" if index is not None else "structure"


class GraphCache:
    """Structures with their ``r_max`` neighbour search done once, lazily, then reused.

    The cache costs about 44 bytes per ``r_max`` edge (index, shift, length). For datasets whose
    graphs do not fit in host memory, ``keep=False`` searches again at every access instead.
    A lazy (on-disk) dataset never keeps anything: memory must not grow with it; when it stores
    ``r_max`` graphs searched at a radius ``>= r_max`` they are used instead of a search.

    Args:
        structures: the dataset (not modified).
        r_max (float): search radius. edge_rule (str), backend (str): as FlexibleRadiusGraph.
        keep (bool): keep the searched graphs (default) or search on every access.
    """

    def __init__(
        self,
        structures: Sequence[Data],
        r_max: float,
        edge_rule: str = "mean",
        backend="auto",
        keep: bool = True,
    ) -> None:
        self.structures = structures
        self.graph = FlexibleRadiusGraph(r_max, edge_rule=edge_rule, backend=backend)
        self.lazy = is_lazy(structures)
        self.keep = keep and not self.lazy
        self._cached: list[Data | None] = [None] * (len(structures) if self.keep else 0)
        self.num_searches = 0

    def __len__(self) -> int:
        return len(self.structures)

    def __getitem__(self, index: int) -> Data:
        data = self._cached[index] if self.keep else None
        if data is None:
            data = copy.copy(self.structures[index])
            present = set(data.keys())  # one listing (``key in data`` lists the keys each time)
            for key in _PRUNED_KEYS:
                if key in present:
                    del data[key]
            if not (self.lazy and self.graph.is_cached(data)):
                self.graph.build_cache(data)
                self.num_searches += 1
            if self.keep:
                self._cached[index] = data
        return data


class CutoffAssigner:
    """Writes ``data.cutoff`` for training: fixed (SCL) or freshly drawn per structure (FCL).

    Args:
        fixed (float, optional): SCL cutoff; ``None`` for FCL.
        r_min, r_max (float): FCL range. mode (str), p_rmax (float): sampler options.
        seed (int): run seed.
    """

    def __init__(
        self,
        fixed: float | None,
        r_min: float,
        r_max: float,
        mode: str = "atom",
        p_rmax: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.fixed = fixed
        self.seed = seed
        self.generator = torch.Generator()
        self.sampler = (
            None
            if fixed is not None
            else PerAtomCutoffSampler(
                r_min, r_max, mode=mode, generator=self.generator, p_rmax=p_rmax
            )
        )

    def __call__(self, data: Data, epoch: int, index: int) -> Data:
        data = copy.copy(data)
        if self.sampler is None:
            data.cutoff = torch.full_like(data.pos[:, 0], float(self.fixed))
            return data
        self.generator.manual_seed(derive_seed(self.seed, epoch, index, 1))
        return self.sampler(data)
