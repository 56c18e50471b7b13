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
        mean energy per atom, which is also what elements absent from the data get.

    Raises:
        ValueError: no structure has an energy label, or a structure holds an unknown element.
    """
    elements = sorted(int(z) for z in elements)
    column = {z: k for k, z in enumerate(elements)}
    rows, energies, natoms = [], [], []
    force_sq, force_n = 0.0, 0
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
        rows.append(counts)
        energies.append(float(data.energy.reshape(-1)[0]))
        natoms.append(len(z))
    if not rows:
        raise ValueError("cannot fit reference energies: no training structure has an energy")
    a, b, n = np.array(rows), np.array(energies), np.array(natoms, dtype=float)
    # Solve for deviations from the mean energy per atom: when the data cannot determine every
    # element (few structures, elements always together), the minimum-norm solution then stays
    # near the mean instead of near 0 eV.
    mean = float(b.sum() / max(n.sum(), 1.0))
    delta, *_ = np.linalg.lstsq(a, b - mean * a.sum(axis=1), rcond=None)
    e0 = mean + delta
    residual = (b - a @ e0) / np.maximum(n, 1)
    shift = float(residual.mean())
    scale = math.sqrt(force_sq / force_n) if force_n else float(residual.std())
    if not (math.isfinite(scale) and scale > 1e-8):
        scale = 1.0
    present = a.sum(axis=0) > 0
    atomic = {z: float(e0[k]) if present[k] else mean for z, k in column.items()}
    return EnergyNormalization(atomic, scale, shift)
