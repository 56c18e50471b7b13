"""Lazy views of datasets: several datasets as one, or some frames of one, without reading them.

Lists of ``Data`` and :class:`~pyg_fcl.data.PackedDataset` files mix freely: indexing a view
indexes the dataset underneath, so a view of an on-disk dataset stays on disk.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
from torch_geometric.data import Data

__all__ = ["ConcatStructures", "IndexedStructures", "is_lazy"]


def is_lazy(dataset) -> bool:
    """Whether ``dataset`` reads its structures on access (keep nothing per structure)."""
    return bool(getattr(dataset, "is_lazy", False))


class ConcatStructures(Sequence):
    """Datasets one after the other, as one sequence.

    Args:
        parts (Sequence[Sequence[Data]]): the datasets (lists, packed datasets, views).
    """

    def __init__(self, parts: Sequence[Sequence[Data]]) -> None:
        self.parts = list(parts)
        self.ends = np.cumsum([len(p) for p in self.parts]).tolist()
        self.is_lazy = any(is_lazy(p) for p in self.parts)

    @property
    def elements(self) -> list[int] | None:
        """Sorted atomic numbers, when every part knows its own (else ``None``)."""
        found: set[int] = set()
        for part in self.parts:
            known = getattr(part, "elements", None)
            if known is None:
                return None
            found.update(int(z) for z in known)
        return sorted(found)

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            return IndexedStructures(self, range(len(self))[index])
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} structures")
        index %= len(self)
        part = bisect.bisect_right(self.ends, index)
        start = self.ends[part - 1] if part else 0
        return self.parts[part][index - start]

    def __repr__(self) -> str:
        return f"ConcatStructures({len(self)} structures in {len(self.parts)} parts)"


class IndexedStructures(Sequence):
    """``base[indices[k]]`` for ``k`` in ``range(len(indices))``, read on access.

    Args:
        base (Sequence[Data]): the dataset.
        indices (Sequence[int]): chosen positions (kept as an int64 array, 8 bytes each).
    """

    def __init__(self, base: Sequence[Data], indices) -> None:
        self.base = base
        self.indices = np.asarray(list(indices), dtype=np.int64)
        self.is_lazy = is_lazy(base)
        self.elements = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return IndexedStructures(self.base, self.indices[index])
        return self.base[int(self.indices[index])]

    def __repr__(self) -> str:
        return f"IndexedStructures({len(self)} of {len(self.base)} structures)"
