"""Energy normalisation fitted on the training set.

A model's per-atom energy is ``scale * raw + shift + E0[z]`` (:meth:`FCLModel.normalize_energy`).
Here ``E0`` are per-element reference energies found by least squares,
``min_E0 sum_s (E_s - sum_z n_sz E0_z)^2`` over the training structures with an energy label
(``n_sz`` atoms of element ``z`` in structure ``s``; minimum-norm deviation from the mean energy
per atom where the data leave it undetermined), ``shift`` is the mean per-atom residual
energy and ``scale`` the RMS force component (MACE's choice: the network then predicts numbers
of order one); without forces, the standard deviation of the per-atom residual energies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch_geometric.data import Data

from ..data.packed import packed_parts

__all__ = ["EnergyNormalization", "fit_energy_normalization"]


@dataclass(frozen=True)
class EnergyNormalization:
    """Fitted normalisation.

    Attributes:
        atomic_energies (dict[int, float]): per-element reference energies (eV).
        scale (float): energy scale (eV), > 0.
        shift (float): per-atom energy shift (eV).
    """

    atomic_energies: dict[int, float]
    scale: float
    shift: float

    def apply(self, model) -> None:
        """Write into ``model`` with :meth:`FCLModel.set_energy_normalization`."""
        model.set_energy_normalization(self.atomic_energies, self.scale, self.shift)

    def to_dict(self) -> dict:
        return {
            "atomic_energies": {int(z): float(e) for z, e in self.atomic_energies.items()},
            "scale": self.scale,
            "shift": self.shift,
        }


class _Sums:
    """Running sums for the least-squares fit: memory independent of the number of structures.

    Energies are taken relative to the first structure's energy per atom ``c`` (so the sums stay
    small numbers); the fit solves the normal equations ``(A^T A) d = A^T (b - mean n)`` for
    the deviation ``d`` from the mean energy per atom (least squares: the minimum-norm solution,
    the same as ``lstsq`` on the rows ``A``), and the residuals' mean and spread come from sums of
    ``b/n``, ``a/n``, ``(b/n)^2``, ``a b/n^2`` and ``a a^T/n^2`` (``a`` the element counts,
    ``b`` the energy, ``n`` the atoms of a structure).
    """

    def __init__(self, k: int) -> None:
        self.count, self.c = 0, None
        self.gram, self.ab, self.an = np.zeros((k, k)), np.zeros(k), np.zeros(k)
        self.b, self.n = 0.0, 0.0
        self.r_b, self.r_a = 0.0, np.zeros(k)
        self.r_bb, self.r_ab, self.r_aa = 0.0, np.zeros(k), np.zeros((k, k))

    def add(self, a: np.ndarray, energy: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Add structures: counts ``a [m, k]``, energies ``[m]``, multiplicities ``[m]``."""
        a, energy = np.atleast_2d(a), np.atleast_1d(np.asarray(energy, dtype=float))
        w = np.ones(len(energy)) if weight is None else np.asarray(weight, dtype=float)
        if not len(energy):
            return
        n = a.sum(axis=1)
        inv = 1.0 / np.maximum(n, 1.0)
        if self.c is None:
            self.c = float(energy[0] * inv[0])
        b = energy - self.c * n
        wa = a * w[:, None]
        self.count += float(w.sum())
        self.gram += wa.T @ a
        self.ab += wa.T @ b
        self.an += wa.T @ n
        self.b += float(w @ b)
        self.n += float(w @ n)
        self.r_b += float(w @ (b * inv))
        self.r_a += wa.T @ inv
        self.r_bb += float(w @ (b * inv) ** 2)
        self.r_ab += wa.T @ (b * inv * inv)
        self.r_aa += (wa * (inv * inv)[:, None]).T @ a

    @property
    def present(self) -> np.ndarray:
        return np.diag(self.gram) > 0

    def solve(self) -> tuple[np.ndarray, float, float, float]:
        """``(e0 [k], mean energy per atom, mean residual per atom, its standard deviation)``."""
        mean = self.b / max(self.n, 1.0)
        delta, *_ = np.linalg.lstsq(self.gram, self.ab - mean * self.an, rcond=None)
        e0 = mean + delta  # relative to c
        shift = (self.r_b - e0 @ self.r_a) / self.count
        square = (self.r_bb - 2 * e0 @ self.r_ab + e0 @ self.r_aa @ e0) / self.count
        std = math.sqrt(max(square - shift**2, 0.0))
        return e0 + self.c, mean + self.c, shift, std


def _has(data: Data, key: str) -> bool:
    return bool(data[key].reshape(-1)[0]) if key in data else True


def fit_energy_normalization(
    structures: Sequence[Data], elements: Sequence[int]
) -> EnergyNormalization:
    """Fit per-element reference energies, scale and shift.

    Args:
        structures: training structures (``z`` ``[N]``, ``energy`` ``[1]``, ``forces``
            ``[N, 3]``, masks ``has_energy``/``has_forces``).
        elements: atomic numbers of the model; every ``z`` must be among them.

    Returns:
        EnergyNormalization: the fit. Underdetermined fits take the solution closest to the
        mean energy per atom, which is also what elements absent from the data get. One pass
        over ``structures`` with running sums: memory does not grow with their number; packed
        files (and views of them) are read as columns, without building ``Data`` objects.

    Raises:
        ValueError: no structure has an energy label, or a structure holds an unknown element.
    """
    elements = sorted(int(z) for z in elements)
    column = {z: k for k, z in enumerate(elements)}
    sums = _Sums(len(elements))
    force_sq, force_n = 0.0, 0
    parts = packed_parts(structures)
    if parts is not None:  # packed files: read as columns, block by block (no Data objects)
        for root, rows in parts:
            for counts, energy, has_e, w, f_sq, has_f, natoms in root.label_blocks(elements, rows):
                use = has_e & (w > 0)
                sums.add(counts[use], energy[use], w[use])
                force_sq += float((w * has_f) @ f_sq)
                force_n += int((w * has_f) @ (3 * natoms))
        structures = ()
    for index, data in enumerate(structures):
        z = data.z.reshape(-1).tolist()
        unknown = sorted(set(z) - set(column))
        if unknown:
            where = f"{getattr(data, 'source', '')!r} frame {int(getattr(data, 'frame', -1))}"
            raise ValueError(
                f"structure {index} ({where}) holds elements {unknown} not in {elements}"
            )
        if _has(data, "has_forces") and data.forces.numel():
            forces = data.forces.detach().double()
            force_sq += float(forces.square().sum())
            force_n += forces.numel()
        if not _has(data, "has_energy"):
            continue
        counts = np.zeros(len(elements))
        for value in z:
            counts[column[value]] += 1
        sums.add(counts, float(data.energy.reshape(-1)[0]))
    if sums.count == 0:
        raise ValueError("cannot fit reference energies: no training structure has an energy")
    e0, mean, shift, std = sums.solve()
    scale = math.sqrt(force_sq / force_n) if force_n else std
    if not (math.isfinite(scale) and scale > 1e-8):
        scale = 1.0
    atomic = {z: float(e0[k]) if sums.present[k] else mean for z, k in column.items()}
    return EnergyNormalization(atomic, scale, shift)
