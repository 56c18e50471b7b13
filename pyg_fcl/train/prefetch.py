"""Reading the next batch's structures while the current step computes (on-disk datasets).

Reading a structure from a packed file and building its ``Data`` costs about a millisecond of
Python per structure: at the scale of a training step, enough to show in the throughput. For a
lazy dataset the Trainer therefore reads the structures of step ``k + 1`` in one background
thread while step ``k`` runs (torch releases the GIL in its kernels). Only the reading moves: the
cutoff draws stay in the main thread, so batches and cutoffs are exactly those of a run without
prefetching. In-memory datasets are read in the calling thread as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from torch_geometric.data import Data

from ..data.views import is_lazy

__all__ = ["Prefetcher"]


class Prefetcher:
    """``get(indices)`` returns ``[dataset[i] for i in indices]``, read ahead when scheduled.

    Args:
        dataset (Sequence[Data]): what to read (e.g. the Trainer's ``GraphCache``).
        enabled (bool, optional): read ahead in a background thread; default: when the data
            underneath is lazy (``dataset.lazy`` or ``dataset.is_lazy``).
    """

    def __init__(self, dataset: Sequence[Data], enabled: bool | None = None) -> None:
        self.dataset = dataset
        if enabled is None:
            enabled = bool(getattr(dataset, "lazy", False)) or is_lazy(dataset)
        self.enabled = enabled
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[tuple[int, ...], Future] = {}

    def _read(self, indices: tuple[int, ...]) -> list[Data]:
        return [self.dataset[i] for i in indices]

    def schedule(self, indices: Sequence[int]) -> None:
        """Start reading ``indices`` in the background (no-op when disabled or pending)."""
        key = tuple(int(i) for i in indices)
        if not self.enabled or key in self._pending:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyg-fcl-read")
        self._pending[key] = self._pool.submit(self._read, key)

    def get(self, indices: Sequence[int]) -> list[Data]:
        """The structures at ``indices`` (waits for a scheduled read; reads now otherwise)."""
        key = tuple(int(i) for i in indices)
        future = self._pending.pop(key, None)
        return future.result() if future is not None else self._read(key)

    def clear(self) -> None:
        """Wait for and drop reads still pending (end of an epoch or of ``fit``)."""
        for future in self._pending.values():
            future.cancel()
            try:
                future.result()
            except Exception:  # noqa: BLE001 - a dropped read's error is of no use
                pass
        self._pending.clear()

    def close(self) -> None:
        """Stop the background thread."""
        self.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
