"""Convert ASE structures and ASE-readable files (extended XYZ first) to PyG ``Data`` and back.

Every :class:`~torch_geometric.data.Data` made here has the same fields, so frames with and
without some label batch together with :class:`~torch_geometric.data.Batch`:

| field | shape / type | meaning |
|---|---|---|
| `z` | `[N]` long | atomic numbers (1..118) |
| `pos` | `[N, 3]` | Cartesian positions (Å) |
| `cell` | `[1, 3, 3]` | lattice vectors as rows (Å), as in ASE; zeros when there is no cell |
| `pbc` | `[1, 3]` bool | periodic directions |
| `energy` | `[1]` | total energy (eV); `0` where `has_energy` is False |
| `forces` | `[N, 3]` | forces (eV/Å); `0` where `has_forces` is False |
| `stress` | `[1, 3, 3]` | stress (eV/Å³, ASE sign); `0` where `has_stress` is False |
| `has_energy`, `has_forces`, `has_stress` | `[1]` bool | the frame has that label |
| `stress_weight` | `[1]` | stress loss weight: `info["stress_weight"]` (see below) |
| `subset` | str | `info[subset_key]` (MAD names normalised), or `""` |
| `system` | str | `info["system"]`, or `""` |
| `source` | str | the file the frame was read from, or `""` |
| `frame` | `[1]` long | index of the frame in that file, or `-1` |

``stress_weight`` is ``info["stress_weight"]`` or ``info["config_stress_weight"]`` (MACE's name;
x23 gas-phase frames have ``0``) when present, else ``1``, and always ``0`` where ``has_stress`` is
False.

Missing labels are therefore *masked*, not absent: a loss must weight the force term of a
graph by ``has_forces`` (per atom: ``has_forces[batch]``), the energy term by ``has_energy``
and the stress term by ``stress_weight``.
After batching, the graph-level fields become ``[num_graphs, ...]`` (``cell`` ``[G, 3, 3]``) and
the strings become lists of length ``G``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.formats import string2index
from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress
from torch_geometric.data import Data

from .read_errors import ase_read  # ase.io.read, errors naming the file and frame
from .sanity import check_structure

__all__ = ["read_structures", "atoms_to_data", "data_to_atoms"]

_STRESS_WEIGHT_KEYS = ("stress_weight", "config_stress_weight")
_MAX_Z = 118


def _places(atoms: Atoms, label: str) -> list[tuple[str, dict]]:
    results = getattr(atoms.calc, "results", None) or {}
    second = ("arrays", atoms.arrays) if label == "forces" else ("info", atoms.info)
    return [("calc.results", results), second]


def _present_keys(atoms: Atoms) -> str:
    results = getattr(atoms.calc, "results", None) or {}
    return (
        f"calc.results {sorted(results)}, info {sorted(atoms.info)}, arrays {sorted(atoms.arrays)}"
    )


def _lookup(atoms: Atoms, label: str, key: str, where: str, required: bool):
    """Find label ``key`` in calc.results, then info (energy, stress) or arrays (forces)."""
    for place, store in _places(atoms, label):
        if key in store and store[key] is not None:
            try:
                return np.asarray(store[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}: {label} key {key!r} ({place}) is not numeric: {store[key]!r}"
                ) from None
    if required:
        raise ValueError(
            f"{where}: no {label} label under key {key!r}; present keys: {_present_keys(atoms)}"
        )
    return None


def _check_finite(values: np.ndarray, what: str, where: str, per_atom: bool = False) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        if per_atom:
            atom = int(np.argwhere(bad.reshape(len(values), -1).any(axis=1))[0, 0])
            raise ValueError(f"{where}, atom {atom}: non-finite {what} {values[atom].tolist()}")
        raise ValueError(f"{where}: non-finite {what} {values.tolist()}")


def _stress_3x3(value: np.ndarray, key: str, where: str) -> np.ndarray:
    if value.size == 6:
        return voigt_6_to_full_3x3_stress(value.reshape(6))
    if value.size == 9:
        return value.reshape(3, 3)
    raise ValueError(
        f"{where}: stress key {key!r} has shape {value.shape}; expected 6 (Voigt) or 3x3 values"
    )


def _stress_weight(atoms: Atoms, where: str) -> float:
    for key in _STRESS_WEIGHT_KEYS:
        if key in atoms.info:
            try:
                weight = float(atoms.info[key])
            except (TypeError, ValueError):
                weight = math.nan
            if not (math.isfinite(weight) and weight >= 0.0):
                value = atoms.info[key]
                raise ValueError(f"{where}: info[{key!r}] = {value!r} is not a weight >= 0")
            return weight
    return 1.0


def atoms_to_data(
    atoms: Atoms,
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    require_energy: bool = False,
    require_forces: bool = False,
    dtype: torch.dtype | None = None,
    subset_key: str | None = "subset",
    subset_names: Callable[[str], str] | None = None,
    source: str = "",
    frame: int = -1,
) -> Data:
    """Convert one :class:`ase.Atoms` to a PyG ``Data`` (fields in the module docstring).

    Labels are looked up in ``atoms.calc.results`` first (where ASE puts the standard extxyz
    ``energy``/``forces``/``stress``), then in ``atoms.info`` (energy, stress) or
    ``atoms.arrays`` (forces); so ``energy_key="REF_energy"`` finds an energy kept in ``info``.
    Stress may be a Voigt 6-vector (ASE order xx, yy, zz, yz, xz, xy), 9 values or a 3x3 array.

    Args:
        atoms (Atoms): the structure.
        energy_key, forces_key, stress_key (str): label key names.
        require_energy, require_forces (bool): raise if the label is missing (labels are optional
            here by default; stress is always optional).
        dtype (torch.dtype, optional): float dtype of positions, cell and labels; default
            ``torch.get_default_dtype()``.
        subset_key (str, optional): ``info`` key of the subset name (``None``: no subset).
        subset_names (callable, optional): maps a subset label to its canonical name (e.g.
            :func:`~pyg_fcl.data.normalize_subset` for MAD); labels are kept as they are without.
        source (str): file name recorded in ``data.source`` and used in error messages.
        frame (int): frame index recorded in ``data.frame`` and used in error messages.

    Returns:
        Data: one graph with ``N = len(atoms)`` nodes.

    Raises:
        ValueError: no atoms, invalid atomic numbers, non-finite positions, cell or labels,
            labels of the wrong shape, a zero lattice vector along a periodic direction,
            overlapping atoms or an absurd density (:mod:`pyg_fcl.data.sanity`), or a required
            label missing. Messages name the source, frame, atom and key.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    where = f"{source!r}, frame {frame}" if source else "structure"
    n = len(atoms)
    if n == 0:
        raise ValueError(f"{where}: structure has no atoms")

    numbers = np.asarray(atoms.numbers)
    bad = (numbers < 1) | (numbers > _MAX_Z)
    if bad.any():
        atom = int(np.argwhere(bad)[0, 0])
        raise ValueError(
            f"{where}, atom {atom}: invalid atomic number {int(numbers[atom])} (valid: 1..{_MAX_Z})"
        )
    positions = np.asarray(atoms.positions, dtype=np.float64)
    _check_finite(positions, "position", where, per_atom=True)
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    _check_finite(cell, "cell", where)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    for k in range(3):
        if pbc[k] and not np.any(cell[k]):
            raise ValueError(f"{where}: periodic direction {k} has a zero lattice vector")
    # overlapping atoms, absurd density (e.g. a cell in nm): pyg_fcl.data.sanity
    check_structure(
        torch.from_numpy(positions), torch.from_numpy(cell), torch.from_numpy(pbc), where=where
    )

    energy = _lookup(atoms, "energy", energy_key, where, require_energy)
    if energy is not None:
        if energy.size != 1:
            raise ValueError(f"{where}: energy key {energy_key!r} has shape {energy.shape}")
        energy = energy.reshape(1)
        _check_finite(energy, f"energy ({energy_key!r})", where)
    forces = _lookup(atoms, "forces", forces_key, where, require_forces)
    if forces is not None:
        if forces.shape != (n, 3):
            raise ValueError(
                f"{where}: forces key {forces_key!r} has shape {forces.shape}, expected ({n}, 3)"
            )
        _check_finite(forces, f"forces ({forces_key!r})", where, per_atom=True)
    stress = _lookup(atoms, "stress", stress_key, where, False)
    if stress is not None:
        stress = _stress_3x3(stress, stress_key, where)
        _check_finite(stress, f"stress ({stress_key!r})", where)

    weight = 0.0
    if stress is not None:
        weight = _stress_weight(atoms, where)
    subset = ""
    if subset_key is not None and subset_key in atoms.info:
        subset = str(atoms.info[subset_key])
        if subset_names is not None:
            subset = subset_names(subset)

    def f(array, shape):
        if array is None:
            return torch.zeros(shape, dtype=dtype)
        return torch.as_tensor(array, dtype=dtype).reshape(shape)

    return Data(
        z=torch.as_tensor(numbers, dtype=torch.long),
        pos=f(positions, (n, 3)),
        cell=f(cell, (1, 3, 3)),
        pbc=torch.as_tensor(pbc, dtype=torch.bool).reshape(1, 3),
        energy=f(energy, (1,)),
        forces=f(forces, (n, 3)),
        stress=f(stress, (1, 3, 3)),
        has_energy=torch.tensor([energy is not None]),
        has_forces=torch.tensor([forces is not None]),
        has_stress=torch.tensor([stress is not None]),
        stress_weight=torch.tensor([weight], dtype=dtype),
        subset=subset,
        system=str(atoms.info.get("system", "")),
        source=source,
        frame=torch.tensor([frame], dtype=torch.long),
    )


def _read_frames(path: str, index, format: str | None) -> list[tuple[int, Atoms]]:
    """Read the selected frames with ASE and return ``(frame index in file, atoms)`` pairs."""
    try:
        idx = string2index(index) if isinstance(index, str) else index
    except ValueError:
        raise ValueError(
            f"{path!r}: index {index!r} is neither a frame number nor a slice like '::10'"
        ) from None
    if not isinstance(idx, (int, slice)):
        raise ValueError(f"{path!r}: index {index!r} is neither an int nor a slice")
    if isinstance(idx, int) and idx >= 0:
        return [(idx, ase_read(path, index=idx, format=format))]
    if isinstance(idx, slice) and all(v is None or v >= 0 for v in (idx.start, idx.stop)):
        if idx.step is None or idx.step > 0:
            frames = ase_read(path, index=idx, format=format)
            start, step = idx.start or 0, idx.step or 1
            return [(start + k * step, atoms) for k, atoms in enumerate(frames)]
    # Negative indices or steps: frame numbers need the frame count, so read everything.
    frames = ase_read(path, index=":", format=format)
    numbers = range(len(frames))
    chosen = [numbers[idx]] if isinstance(idx, int) else list(numbers[idx])
    return [(k, frames[k]) for k in chosen]


def read_structures(
    path: str | os.PathLike,
    index: str | int | slice = ":",
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    allow_missing_forces: bool = False,
    allow_missing_energy: bool = False,
    dtype: torch.dtype | None = None,
    subset_key: str | None = "subset",
    subset_names: Callable[[str], str] | None = None,
    format: str | None = None,
    frame_filter: Callable[[Atoms, str, int], bool] | None = None,
) -> list[Data]:
    """Read labelled structures from any ASE-readable file (extended XYZ first) as PyG ``Data``.

    Each frame becomes one ``Data`` with the fields of the module docstring. Energy and forces are
    required unless allowed missing; a frame without them then has ``has_energy`` /
    ``has_forces`` False and zeros in their place. Stress is always optional (``has_stress``).

    Args:
        path (str or PathLike): the file.
        index (str, int or slice): which frames, in ASE syntax (``":"``, ``":20"``, ``3``, ...).
        energy_key, forces_key, stress_key (str): label keys, looked up in ``atoms.calc.results``,
            then ``atoms.info`` (energy, stress) or ``atoms.arrays`` (forces); e.g.
            ``energy_key="REF_energy", forces_key="REF_forces"``.
        allow_missing_forces (bool): accept frames without forces (masked by ``has_forces``).
        allow_missing_energy (bool): accept frames without energy (masked by ``has_energy``).
        dtype (torch.dtype, optional): float dtype; default ``torch.get_default_dtype()``.
        subset_key (str, optional): ``info`` key of the subset name.
        subset_names (callable, optional): canonical name of a subset label (e.g.
            :func:`~pyg_fcl.data.normalize_subset` with ``strict=False``, which
            :func:`~pyg_fcl.data.read_mad` uses); labels are kept as they are without.
        format (str, optional): ASE file format, guessed from the name when ``None``.
        frame_filter (callable, optional): ``frame_filter(atoms, source, frame) -> bool``; frames
            for which it returns False are skipped before conversion.

    Returns:
        list[Data]: one graph per kept frame, in file order.

    Raises:
        ValueError: a missing label (the message names the file, the frame, the key and the keys
            that are present), invalid atomic numbers, non-finite values (file, frame, atom), or
            a malformed index.
    """
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise ValueError(f"structure file {source!r} does not exist")
    out = []
    for frame, atoms in _read_frames(source, index, format):
        if frame_filter is not None and not frame_filter(atoms, source, frame):
            continue
        out.append(
            atoms_to_data(
                atoms,
                energy_key=energy_key,
                forces_key=forces_key,
                stress_key=stress_key,
                require_energy=not allow_missing_energy,
                require_forces=not allow_missing_forces,
                dtype=dtype,
                subset_key=subset_key,
                subset_names=subset_names,
                source=source,
                frame=frame,
            )
        )
    return out


def data_to_atoms(data: Data) -> Atoms:
    """Convert one graph (as made by :func:`atoms_to_data`) back to :class:`ase.Atoms`.

    Labels present (``has_*`` True, or the field present when a flag is absent) are attached as a
    :class:`~ase.calculators.singlepoint.SinglePointCalculator`, so ``get_potential_energy()``,
    ``get_forces()`` and ``get_stress()`` return them; ``subset`` and ``system`` go to ``info``.

    Args:
        data (Data): a single graph (``cell`` ``[1, 3, 3]``); take one graph out of a ``Batch``
            with ``batch.get_example(i)``.

    Returns:
        Atoms: positions, cell and pbc in float64.

    Raises:
        ValueError: ``data`` holds more than one graph.
    """
    cell = data.cell.detach().cpu().double().reshape(-1, 3, 3)
    if cell.shape[0] != 1:
        raise ValueError(f"data_to_atoms needs a single graph, got {cell.shape[0]} cells")
    atoms = Atoms(
        numbers=data.z.detach().cpu().numpy(),
        positions=data.pos.detach().cpu().double().numpy(),
        cell=cell[0].numpy(),
        pbc=data.pbc.detach().cpu().reshape(3).numpy(),
    )

    def label(name: str):
        flag = getattr(data, f"has_{name}", None)
        value = getattr(data, name, None)
        if value is None or (flag is not None and not bool(flag.reshape(-1)[0])):
            return None
        return value.detach().cpu().double().numpy()

    results = {}
    if (energy := label("energy")) is not None:
        results["energy"] = float(energy.reshape(-1)[0])
    if (forces := label("forces")) is not None:
        results["forces"] = forces.reshape(-1, 3)
    if (stress := label("stress")) is not None:
        results["stress"] = full_3x3_to_voigt_6_stress(stress.reshape(3, 3))
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    for key in ("subset", "system"):
        if getattr(data, key, ""):
            atoms.info[key] = str(getattr(data, key))
    return atoms
