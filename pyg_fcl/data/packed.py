"""``PackedDataset``: structures read lazily, one at a time, from a packed dataset file.

A packed dataset (written by :func:`~pyg_fcl.data.pack_structures` / ``pyg-fcl data pack``) is a
random-access sequence of PyG ``Data`` with exactly the fields of
:func:`~pyg_fcl.read_structures` (see :mod:`pyg_fcl.data.atoms`); indexing reads that one
structure from disk. Memory does not grow with the size of the file: only the file handle, the
per-file attributes and a bounded cache of names are kept. Each process opens the file itself
(after a ``fork``, or in each DDP rank), so under DDP every rank reads only the structures of its
share of each batch. A ``PackedDataset`` pickles as its path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from .packed_format import open_packed

__all__ = ["PackedDataset", "packed_parts", "subset_labels"]

_MAX_CACHED_STRINGS = 4096

#: serialises opening a file (and building its tables) across threads
_OPEN_LOCK = threading.Lock()


class PackedDataset(Sequence):
    """A packed dataset file as a lazy sequence of structures.

    Args:
        path (str or PathLike): the ``.h5`` file.
        dtype (torch.dtype, optional): float dtype of positions, cell and labels (stored in
            float64); default ``torch.get_default_dtype()``, as :func:`pyg_fcl.read_structures`.
        graphs (bool): attach the stored ``r_max`` graphs (when the file has them), so training
            needs no neighbour search.
        indices (Iterable[int], optional): a view of these frames only (``[len]`` int64 array in
            memory, 8 bytes per frame).
        subset_names (callable, optional): maps stored subset labels to the names returned in
            ``data.subset`` (e.g. MAD's canonical names).

    Raises:
        ValueError: the file is missing, truncated, damaged or not a packed dataset (the message
            names it).

    Example::

        train = PackedDataset("train.h5")
        data = train[12]          # one Data, read from disk
    """

    is_lazy = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        dtype: torch.dtype | None = None,
        graphs: bool = True,
        indices: Iterable[int] | None = None,
        subset_names=None,
    ) -> None:
        self.path = os.fspath(path)
        self.dtype = torch.get_default_dtype() if dtype is None else dtype
        self.graphs = bool(graphs)
        self.subset_names = subset_names
        handle = open_packed(self.path)
        try:
            attrs = handle.attrs
            self.num_frames = int(attrs["num_frames"])
            file_elements = [int(z) for z in attrs["elements"]]
            self.graph_r_max = float(attrs["graph_r_max"])
            self.label_keys = json.loads(attrs["label_keys"])
        finally:
            handle.close()
        self.indices = None
        if indices is not None:
            self.indices = np.asarray(list(indices), dtype=np.int64)
            bad = (self.indices < 0) | (self.indices >= self.num_frames)
            if bad.any():
                raise ValueError(
                    f"{self.path!r}: frame index {int(self.indices[bad][0])} out of range "
                    f"(the file holds {self.num_frames} frames)"
                )
        #: sorted atomic numbers of the file (``None`` for a view of some frames: unknown)
        self.elements = file_elements if self.indices is None else None
        self._handle = None
        self._pid = None
        self._strings: dict[int, str] = {}

    # ------------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return self.num_frames if self.indices is None else len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path!r}: index {index} out of range for {len(self)} frames")
        index %= len(self)
        row = index if self.indices is None else int(self.indices[index])
        return self._read(row)

    def subset(self, indices: Iterable[int], subset_names=None) -> PackedDataset:
        """A view of ``self[i]`` for ``i`` in ``indices`` (nothing is read)."""
        chosen = np.asarray(list(indices), dtype=np.int64)
        if self.indices is not None:
            chosen = self.indices[chosen]
        return PackedDataset(
            self.path,
            dtype=self.dtype,
            graphs=self.graphs,
            indices=chosen,
            subset_names=subset_names or self.subset_names,
        )

    def select_subsets(self, names: Sequence[str], canonical=None) -> PackedDataset:
        """The frames whose subset label is in ``names`` (reads only the subset column).

        Args:
            names: subset names as stored (or as ``canonical`` maps them).
            canonical (callable, optional): maps a stored label and a requested name to the same
                spelling, e.g. ``lambda s: normalize_subset(s, strict=False)``.
        """
        canonical = canonical or (lambda s: s)
        wanted = {canonical(n) for n in names}
        handle = self._file()
        strings = handle["strings"].asstr()[:]
        labels = handle["frames"].fields("subset")[:]
        keep_label = np.array([canonical(s) in wanted for s in strings])
        if self.indices is not None:
            labels = labels[self.indices]
        return self.subset(np.nonzero(keep_label[labels])[0], subset_names=canonical)

    # ------------------------------------------------------------------ columns
    def file_rows(self, positions: Iterable[int] | None = None) -> np.ndarray:
        """File rows ``[len]`` of the given positions of this dataset (default: all of them)."""
        if positions is None:
            return np.arange(self.num_frames) if self.indices is None else self.indices
        positions = np.asarray(positions, dtype=np.int64)
        return positions if self.indices is None else self.indices[positions]

    def _blocks(self, rows: np.ndarray, block: int = 16384):
        """Contiguous blocks of the file holding ``rows``: ``(start, weight, frames, atoms,
        owner)`` with ``weight [b]`` how often each frame is among ``rows`` and ``owner [a]``
        the frame (within the block) of each atom."""
        self._file()
        weight = np.bincount(np.asarray(rows, dtype=np.int64), minlength=self.num_frames)
        for start in range(0, self.num_frames, block):
            w = weight[start : start + block]
            if not w.any():
                continue
            frames = self._tables["frames"].read(start, len(w))
            first = int(frames["atom_start"][0])
            end = int(frames["atom_start"][-1]) + int(frames["num_atoms"][-1])
            atoms = self._tables["atoms"].read(first, end - first)
            owner = np.repeat(np.arange(len(w)), frames["num_atoms"])
            yield start, w, frames, atoms, owner

    def present_elements(self, rows: np.ndarray | None = None) -> list[int]:
        """Sorted atomic numbers of the frames at file ``rows`` (reads only the ``z`` column)."""
        if rows is None and self.indices is None:
            return list(self.elements)
        found = np.zeros(256, dtype=bool)
        for _, w, _, atoms, owner in self._blocks(self.file_rows() if rows is None else rows):
            found[atoms["z"][w[owner] > 0]] = True
        return [int(z) for z in np.nonzero(found)[0]]

    def subset_labels(self, rows: np.ndarray | None = None) -> set[str]:
        """The ``data.subset`` values of the frames at file ``rows`` (reads one column)."""
        handle = self._file()
        rows = self.file_rows() if rows is None else np.asarray(rows, dtype=np.int64)
        present = np.zeros(handle["strings"].shape[0], dtype=bool)
        for start in range(0, self.num_frames, 1 << 20):
            chosen = rows[(rows >= start) & (rows < start + (1 << 20))] - start
            if len(chosen):
                column = handle["frames"].fields("subset")[start : start + (1 << 20)]
                present[column[chosen]] = True
        return {self._subset(handle, int(k)) for k in np.nonzero(present)[0]}

    def label_blocks(self, elements: Sequence[int], rows: np.ndarray | None = None):
        """Per block of frames: what an energy-normalisation fit needs, read as columns.

        Values pass through this dataset's dtype (as ``self[i]`` returns them) before use.

        Yields:
            tuple: ``counts [b, k]`` (atoms of each of ``elements``), ``energy [b]``,
            ``has_energy [b]`` (bool), ``weight [b]`` (multiplicity among ``rows``),
            ``forces_sq [b]`` (sum of squared force components), ``has_forces [b]`` and
            ``num_atoms [b]``.

        Raises:
            ValueError: a frame holds an element not in ``elements`` (names the file, the
                frame's source and index in it).
        """
        elements = [int(z) for z in elements]
        column = np.full(256, -1, dtype=np.int64)
        column[elements] = np.arange(len(elements))
        k = len(elements)
        rows = self.file_rows() if rows is None else rows
        for start, w, frames, atoms, owner in self._blocks(rows):
            col = column[atoms["z"]]
            bad = np.nonzero((col < 0) & (w[owner] > 0))[0]
            if len(bad):
                row = start + int(owner[bad[0]])
                data = self._read(row)
                where = f"{data.source!r} frame {int(data.frame)}"
                raise ValueError(
                    f"{self.path!r}, structure {row} ({where}) holds element "
                    f"{int(atoms['z'][bad[0]])}, not in {elements}"
                )
            keep = col >= 0
            flat = owner[keep] * k + col[keep]
            counts = np.bincount(flat, minlength=len(w) * k).reshape(len(w), k).astype(float)
            forces = self._as_dtype(atoms["forces"])
            forces_sq = np.bincount(owner, weights=(forces**2).sum(axis=1), minlength=len(w))
            yield (
                counts,
                self._as_dtype(frames["energy"]),
                frames["has_energy"].astype(bool),
                w,
                forces_sq,
                frames["has_forces"].astype(bool),
                frames["num_atoms"].astype(np.int64),
            )

    def _as_dtype(self, array: np.ndarray) -> np.ndarray:
        """float64 values rounded through this dataset's dtype (what ``self[i]`` holds)."""
        return torch.as_tensor(np.ascontiguousarray(array)).to(self.dtype).double().numpy()

    # ------------------------------------------------------------------ reading
    def _file(self):
        if self._handle is None or self._pid != os.getpid():
            # the Trainer's prefetch thread and the main thread may open the file at once:
            # publish the handle only after its tables, under one lock
            with _OPEN_LOCK:
                if self._handle is None or self._pid != os.getpid():
                    handle = open_packed(self.path)
                    self._tables = {name: _Table(handle[name]) for name in _TABLES}
                    self._pid = os.getpid()
                    self._handle = handle
        return self._handle

    def _string(self, handle, index: int) -> str:
        if index == 0:
            return ""
        value = self._strings.get(index)
        if value is None:
            value = handle["strings"].asstr()[index]
            if len(self._strings) >= _MAX_CACHED_STRINGS:
                self._strings.clear()
            self._strings[index] = value
        return value

    def _subset(self, handle, index: int) -> str:
        label = self._string(handle, index)
        return self.subset_names(label) if self.subset_names and label else label

    def _read(self, row: int) -> Data:
        handle = self._file()
        tables = self._tables
        try:
            frame = tables["frames"].read(row, 1)[0]
            start, n = int(frame["atom_start"]), int(frame["num_atoms"])
            atoms = tables["atoms"].read(start, n)
            edges = None
            if self.graphs and self.graph_r_max > 0:
                e0, ne = int(frame["edge_start"]), int(frame["num_edges"])
                edges = tables["edges"].read(e0, ne)
        except (OSError, ValueError) as err:
            raise ValueError(f"{self.path!r}: cannot read frame {row} ({err})") from None
        if len(atoms) != n or n == 0:
            raise ValueError(f"{self.path!r}: frame {row} has {len(atoms)} of {n} atoms (damaged)")
        dt = self.dtype

        def f(array, shape):
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dt).reshape(shape)

        data = Data(
            z=torch.as_tensor(atoms["z"].astype(np.int64)),
            pos=f(atoms["pos"], (n, 3)),
            cell=f(frame["cell"], (1, 3, 3)),
            pbc=torch.as_tensor(np.asarray(frame["pbc"], dtype=bool)).reshape(1, 3),
            energy=f(frame["energy"], (1,)),
            forces=f(atoms["forces"], (n, 3)),
            stress=f(frame["stress"], (1, 3, 3)),
            has_energy=torch.tensor([bool(frame["has_energy"])]),
            has_forces=torch.tensor([bool(frame["has_forces"])]),
            has_stress=torch.tensor([bool(frame["has_stress"])]),
            stress_weight=f(frame["stress_weight"], (1,)),
            subset=self._subset(handle, int(frame["subset"])),
            system=self._string(handle, int(frame["system"])),
            source=self._string(handle, int(frame["source"])),
            frame=torch.tensor([int(frame["frame"])], dtype=torch.long),
        )
        if edges is not None:
            _attach_graph(data, edges, self.graph_r_max)
        return data

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"], state["_pid"], state["_strings"] = None, None, {}
        state.pop("_tables", None)
        return state

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and self._pid == os.getpid():
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - closing at interpreter exit may fail harmlessly
                pass

    def __repr__(self) -> str:
        graphs = f", graphs at {self.graph_r_max:g} Å" if self.graph_r_max > 0 else ""
        return f"PackedDataset({self.path!r}, {len(self)} frames{graphs})"


_TABLES = ("frames", "atoms", "edges")


class _Table:
    """Reads rows ``[start, start + count)`` of a compound HDF5 dataset.

    h5py's ``dataset[a:b]`` rebuilds the compound dtype and the selection on every call (about
    1 ms per frame for the three tables); reading through the low-level API with the memory
    type made once costs about 0.05 ms.
    """

    def __init__(self, dataset) -> None:
        from h5py import h5t

        self.id = dataset.id
        self.dtype = dataset.dtype
        self.mtype = h5t.py_create(self.dtype)
        self.size = dataset.shape[0]

    def read(self, start: int, count: int) -> np.ndarray:
        from h5py import h5s

        if start < 0 or count < 0 or start + count > self.size:
            raise ValueError(f"rows {start}..{start + count} outside the table of {self.size}")
        out = np.empty(count, dtype=self.dtype)
        if count:
            space = self.id.get_space()
            space.select_hyperslab((start,), (count,))
            self.id.read(h5s.create_simple((count,)), space, out, self.mtype)
        return out


def _attach_graph(data: Data, edges: np.ndarray, radius: float) -> None:
    """Attach a stored ``r_max`` graph as the cache that FlexibleRadiusGraph reuses.

    Lengths are recomputed from the positions in their dtype, as a fresh search computes them.
    """
    from ..graph import RMaxGraph
    from ..neighbors import edge_vectors

    edge_index = torch.as_tensor(np.stack([edges["j"], edges["i"]]).astype(np.int64))
    edge_shift = torch.as_tensor(edges["shift"].astype(np.int64)).reshape(-1, 3)
    batch = torch.zeros(data.num_nodes, dtype=torch.long)
    cell = data.cell if bool(data.pbc.any()) else None
    length = edge_vectors(data.pos, edge_index, edge_shift, cell, batch).norm(dim=-1)
    RMaxGraph(edge_index, edge_shift, length, torch.full((1,), radius, dtype=torch.float64)).attach(
        data
    )


def packed_parts(dataset) -> list[tuple[PackedDataset, np.ndarray]] | None:
    """``[(packed file, file rows)]`` behind a packed dataset or views of packed datasets.

    ``None`` when any structure comes from elsewhere (then columns cannot be read directly).
    """
    from .views import ConcatStructures, IndexedStructures

    if isinstance(dataset, PackedDataset):
        return [(dataset, dataset.file_rows())]
    if isinstance(dataset, ConcatStructures):
        parts = [packed_parts(p) for p in dataset.parts]
        return None if any(p is None for p in parts) else [x for p in parts for x in p]
    if isinstance(dataset, IndexedStructures):
        parts = packed_parts(dataset.base)
        if parts is None:
            return None
        ends = np.cumsum([len(rows) for _, rows in parts])
        which = np.searchsorted(ends, dataset.indices, side="right")
        out = []
        for k, (root, rows) in enumerate(parts):
            local = dataset.indices[which == k] - (ends[k - 1] if k else 0)
            if len(local):
                out.append((root, rows[local]))
        return out
    return None


def subset_labels(dataset) -> set[str]:
    """The ``subset`` names in ``dataset`` (``"unlabelled"`` for frames without one).

    Packed files and views of them read only the subset column; anything else is iterated.
    """
    parts = packed_parts(dataset)
    if parts is None:
        return {str(getattr(d, "subset", "") or "unlabelled") for d in dataset}
    found: set[str] = set()
    for root, rows in parts:
        found.update(name or "unlabelled" for name in root.subset_labels(rows))
    return found
