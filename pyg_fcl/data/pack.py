"""``pack_structures``: stream ASE-readable files into one packed dataset (HDF5), atomically.

Frames are read one at a time (``ase.io.iread``), converted with
:func:`~pyg_fcl.data.atoms_to_data` in float64, buffered and appended to resizable, chunked
datasets; memory stays that of one buffer, however large the input. The file is written under a
temporary name next to ``out`` and renamed only once it is complete, so an interrupted pack never
leaves a half-written dataset (see :mod:`pyg_fcl.data.packed_format` for the layout).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import torch
from ase.io import iread

from .._atomic import atomic_path
from ..graph import RMaxGraph
from .atoms import atoms_to_data
from .packed_format import ATOM_DTYPE, EDGE_DTYPE, FORMAT, FRAME_DTYPE, VERSION

__all__ = ["pack_structures"]

_CHUNK_FRAMES = 1024


class _Writer:
    """Appends frames to the open HDF5 file in buffered blocks."""

    def __init__(self, handle, graph_r_max: float | None, backend: str) -> None:
        self.handle = handle
        self.graph_r_max = graph_r_max
        self.backend = backend
        # chunks of ~50-80 kB: a random frame read touches one or two small chunks
        for name, dtype, chunk in (
            ("frames", FRAME_DTYPE, 256),
            ("atoms", ATOM_DTYPE, 1024),
            ("edges", EDGE_DTYPE, 4096),
        ):
            handle.create_dataset(name, (0,), dtype=dtype, maxshape=(None,), chunks=(chunk,))
        self.strings: dict[str, int] = {"": 0}
        self.buffers: dict[str, list[np.ndarray]] = {"frames": [], "atoms": [], "edges": []}
        self.pending = 0
        self.num = {"frames": 0, "atoms": 0, "edges": 0}
        self.elements: set[int] = set()

    def _string(self, value: str) -> int:
        return self.strings.setdefault(str(value), len(self.strings))

    def add(self, data) -> None:
        n = data.num_nodes
        atoms = np.zeros(n, dtype=ATOM_DTYPE)
        atoms["z"] = data.z.numpy()
        atoms["pos"] = data.pos.numpy()
        atoms["forces"] = data.forces.numpy()
        edges = np.zeros(0, dtype=EDGE_DTYPE)
        if self.graph_r_max is not None:
            rmax = RMaxGraph.search(data, self.graph_r_max, self.backend)
            index = rmax.edge_index
            edges = np.zeros(index.size(1), dtype=EDGE_DTYPE)
            edges["j"], edges["i"] = index[0].numpy(), index[1].numpy()
            edges["shift"] = rmax.edge_shift.numpy()
        row = np.zeros(1, dtype=FRAME_DTYPE)
        row["atom_start"], row["num_atoms"] = self.num["atoms"], n
        row["edge_start"], row["num_edges"] = self.num["edges"], len(edges)
        row["energy"] = float(data.energy[0])
        row["cell"] = data.cell.reshape(3, 3).numpy()
        row["pbc"] = data.pbc.reshape(3).numpy()
        row["stress"] = data.stress.reshape(3, 3).numpy()
        for key in ("has_energy", "has_forces", "has_stress"):
            row[key] = bool(data[key][0])
        row["stress_weight"] = float(data.stress_weight[0])
        row["frame"] = int(data.frame[0])
        row["source"] = self._string(data.source)
        row["subset"] = self._string(data.subset)
        row["system"] = self._string(data.system)
        for name, block in (("frames", row), ("atoms", atoms), ("edges", edges)):
            self.buffers[name].append(block)
            self.num[name] += len(block)
        self.elements.update(int(z) for z in np.unique(atoms["z"]))
        self.pending += 1
        if self.pending >= _CHUNK_FRAMES:
            self.flush()

    def flush(self) -> None:
        for name, blocks in self.buffers.items():
            if not blocks:
                continue
            block = np.concatenate(blocks)
            dataset = self.handle[name]
            start = dataset.shape[0]
            dataset.resize((start + len(block),))
            dataset[start:] = block
            blocks.clear()
        self.pending = 0


def pack_structures(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    graph_r_max: float | None = None,
    neighbor_backend: str = "auto",
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    allow_missing_forces: bool = False,
    allow_missing_energy: bool = False,
    format: str | None = None,
    progress: bool = True,
) -> dict:
    """Write the frames of ASE-readable files (extxyz first) into one packed dataset.

    Args:
        paths: input files, packed in the given order, frames in file order.
        out: the packed dataset to write (``.h5``); replaced atomically if it exists.
        graph_r_max (float, optional): also store every structure's ``r_max`` neighbour list
            searched at this radius (12+8 bytes per directed edge on disk); a model with
            ``r_max <= graph_r_max`` then trains without any neighbour search.
        neighbor_backend (str): neighbour-search backend for ``graph_r_max``.
        energy_key, forces_key, stress_key, allow_missing_forces, allow_missing_energy, format:
            as :func:`pyg_fcl.read_structures`; labels are stored in float64.
        progress (bool): a tqdm bar counting frames.

    Returns:
        dict: ``num_frames``, ``num_atoms``, ``num_edges``, ``elements``, ``path``.

    Raises:
        ValueError: a missing input file, a frame without a required label or with invalid
            values (the message names the file and frame), or no frames at all. ``out`` is then
            left as it was.
    """
    import h5py
    from tqdm.auto import tqdm

    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ValueError("pack_structures got no input files")
    for item in items:
        if not os.path.isfile(item):
            raise ValueError(f"input file {os.fspath(item)!r} does not exist")
    if graph_r_max is not None and not float(graph_r_max) > 0:
        raise ValueError(f"graph_r_max must be > 0 (Å), got {graph_r_max!r}")
    label_keys = {"energy": energy_key, "forces": forces_key, "stress": stress_key}
    bar = tqdm(unit="frame", desc=f"pack {os.fspath(out)}", disable=not progress)
    try:
        with atomic_path(out) as tmp:
            with h5py.File(tmp, "w") as handle:
                writer = _Writer(handle, graph_r_max, neighbor_backend)
                for item in items:
                    source = os.fspath(item)
                    for frame, atoms in enumerate(iread(source, index=":", format=format)):
                        data = atoms_to_data(
                            atoms,
                            energy_key=energy_key,
                            forces_key=forces_key,
                            stress_key=stress_key,
                            require_energy=not allow_missing_energy,
                            require_forces=not allow_missing_forces,
                            dtype=torch.float64,
                            source=source,
                            frame=frame,
                        )
                        writer.add(data)
                        bar.update(1)
                writer.flush()
                if writer.num["frames"] == 0:
                    raise ValueError(f"no frames in {[os.fspath(i) for i in items]}")
                strings = sorted(writer.strings, key=writer.strings.get)
                handle.create_dataset("strings", data=strings, dtype=h5py.string_dtype())
                attrs = handle.attrs
                attrs["format"], attrs["version"] = FORMAT, VERSION
                attrs["num_frames"] = writer.num["frames"]
                attrs["num_atoms"] = writer.num["atoms"]
                attrs["num_edges"] = writer.num["edges"]
                attrs["elements"] = np.array(sorted(writer.elements), dtype=np.int64)
                attrs["graph_r_max"] = float(graph_r_max or 0.0)
                attrs["label_keys"] = json.dumps(label_keys)
                attrs["inputs"] = json.dumps([os.fspath(i) for i in items])
                attrs["complete"] = True
    finally:
        bar.close()
    return {
        "path": os.fspath(out),
        "num_frames": writer.num["frames"],
        "num_atoms": writer.num["atoms"],
        "num_edges": writer.num["edges"],
        "elements": sorted(writer.elements),
    }
