"""The on-disk layout of a packed dataset (``pyg-fcl data pack``): one HDF5 file.

Why HDF5 (h5py) and not LMDB: a packed dataset is written once and then only read, by many
processes at random positions. HDF5 keeps it in **one ordinary file** (copy it, checksum it, put it
on a parallel file system), stores the columns as typed, chunked arrays that any tool can inspect
(``h5ls``, h5py, pandas), needs no per-record pickling (LMDB stores opaque byte strings, so every
record would be a pickle, and its memory map wants a size limit fixed in advance), and h5py
installs as a wheel with numpy as its only dependency. HDF5 checks the file's end-of-address at
open time, so a truncated copy is refused before anything is read.

Layout (``N`` frames, ``A`` atoms, ``E`` stored edges in all):

| dataset | dtype | shape | holds |
|---|---|---|---|
| ``frames`` | :data:`FRAME_DTYPE` (compound) | ``[N]`` | per-structure fields and offsets |
| ``atoms`` | :data:`ATOM_DTYPE` (compound) | ``[A]`` | ``z``, ``pos``, ``forces`` (float64) |
| ``edges`` | :data:`EDGE_DTYPE` (compound) | ``[E]`` | optional ``r_max`` graphs (j, i, shift) |
| ``strings`` | variable-length UTF-8 | ``[S]`` | sources, subset and system names |

A frame reads with three small reads (its ``frames`` row, its slice of ``atoms`` and of
``edges``), so a reader never holds more than the structures it is asked for. File attributes:
``format`` (:data:`FORMAT`), ``version``, ``num_frames``, ``num_atoms``, ``num_edges``,
``elements`` (sorted atomic numbers), ``graph_r_max`` (0 without graphs), ``label_keys`` (JSON)
and ``complete`` (written last).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["FORMAT", "VERSION", "FRAME_DTYPE", "ATOM_DTYPE", "EDGE_DTYPE", "open_packed"]

FORMAT = "pyg-fcl-packed"
VERSION = 1
#: The first bytes of every HDF5 file.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

FRAME_DTYPE = np.dtype(
    [
        ("atom_start", "<i8"),
        ("num_atoms", "<i4"),
        ("edge_start", "<i8"),
        ("num_edges", "<i4"),
        ("energy", "<f8"),
        ("cell", "<f8", (3, 3)),
        ("pbc", "?", (3,)),
        ("stress", "<f8", (3, 3)),
        ("has_energy", "?"),
        ("has_forces", "?"),
        ("has_stress", "?"),
        ("stress_weight", "<f8"),
        ("frame", "<i8"),
        ("source", "<i4"),
        ("subset", "<i4"),
        ("system", "<i4"),
    ]
)
ATOM_DTYPE = np.dtype([("z", "u1"), ("pos", "<f8", (3,)), ("forces", "<f8", (3,))])
EDGE_DTYPE = np.dtype([("j", "<i4"), ("i", "<i4"), ("shift", "<i4", (3,))])
_DATASETS = {"frames": FRAME_DTYPE, "atoms": ATOM_DTYPE, "edges": EDGE_DTYPE}


def is_packed_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a packed dataset (``.h5``/``.hdf5``) or starts like HDF5."""
    path = os.fspath(path)
    if path.endswith((".h5", ".hdf5")):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def open_packed(path: str | os.PathLike):
    """Open a packed dataset read-only and check that it is complete and consistent.

    Returns:
        h5py.File: the open file.

    Raises:
        ValueError: the file is missing, not HDF5, truncated, not written by ``pyg-fcl data
            pack``, of another format version, or unfinished; the message names the file.
    """
    import h5py

    source = os.fspath(path)
    if not os.path.isfile(source):
        raise ValueError(f"packed dataset {source!r} does not exist")
    try:
        handle = h5py.File(source, "r")
    except OSError as err:
        with open(source, "rb") as f:
            head = f.read(8)
        what = "truncated or damaged" if head == HDF5_SIGNATURE else "not an HDF5 file"
        raise ValueError(
            f"packed dataset {source!r} cannot be opened: {what} ({err}); pack it again with "
            "`pyg-fcl data pack`"
        ) from None
    try:
        _check(handle, source)
    except BaseException:
        handle.close()
        raise
    return handle


def _check(handle, source: str) -> None:
    attrs = handle.attrs
    if attrs.get("format") != FORMAT:
        raise ValueError(
            f"{source!r} is an HDF5 file but not a pyg-fcl packed dataset "
            f"(attribute format={attrs.get('format')!r}, expected {FORMAT!r})"
        )
    if int(attrs.get("version", -1)) != VERSION:
        raise ValueError(
            f"{source!r}: packed format version {attrs.get('version')!r}, this pyg-fcl reads "
            f"version {VERSION}"
        )
    if not bool(attrs.get("complete", False)):
        raise ValueError(f"{source!r}: packing did not finish (no 'complete' mark)")
    for name, dtype in _DATASETS.items():
        if name not in handle or handle[name].dtype != dtype:
            raise ValueError(f"{source!r}: dataset {name!r} is missing or has the wrong type")
    counts = {"frames": "num_frames", "atoms": "num_atoms", "edges": "num_edges"}
    for name, key in counts.items():
        if handle[name].shape[0] != int(attrs[key]):
            raise ValueError(
                f"{source!r}: {name!r} holds {handle[name].shape[0]} rows but the file says "
                f"{key}={int(attrs[key])} (damaged file)"
            )
    if "strings" not in handle:
        raise ValueError(f"{source!r}: dataset 'strings' is missing")
