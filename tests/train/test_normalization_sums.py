"""The one-pass (running-sums) energy normalisation equals a direct least-squares fit on all
rows, also when the data cannot separate elements (minimum-norm solution)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_fcl.data import PackedDataset, pack_structures
from pyg_fcl.data.views import ConcatStructures, IndexedStructures
from pyg_fcl.train import dataset_elements, fit_energy_normalization, split_structures


def _frame(z, energy, forces=True):
    n = len(z)
    return Data(
        z=torch.tensor(z),
        pos=torch.zeros(n, 3),
        energy=torch.tensor([energy], dtype=torch.float64),
        forces=torch.ones(n, 3, dtype=torch.float64) * 0.1,
        has_energy=torch.tensor([True]),
        has_forces=torch.tensor([forces]),
    )


@pytest.mark.parametrize("separable", [True, False])
def test_running_sums_equal_direct_lstsq(separable):
    rng = np.random.default_rng(0)
    elements = [1, 6, 8, 9]  # 9 never occurs: it gets the mean energy per atom
    frames, rows, energies = [], [], []
    for _ in range(40):
        n_water, n_c = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n_h = 2 * n_water + (int(rng.integers(0, 3)) if separable else 0)
        z = [1] * n_h + [8] * n_water + [6] * n_c
        energy = -13.6 * n_h - 2040.0 * n_water - 1030.0 * n_c + 0.05 * rng.normal()
        frames.append(_frame(z, energy, forces=False))
        rows.append([z.count(e) for e in elements])
        energies.append(energy)
    a, b = np.array(rows, dtype=float), np.array(energies)
    n = a.sum(axis=1)
    mean = b.sum() / n.sum()
    delta = np.linalg.lstsq(a, b - mean * n, rcond=None)[0]  # minimum-norm deviation
    e0 = mean + delta
    residual = (b - a @ e0) / n
    fit = fit_energy_normalization(frames, elements)
    for k, z in enumerate(elements[:3]):
        assert fit.atomic_energies[z] == pytest.approx(e0[k], abs=1e-8)
    assert fit.atomic_energies[9] == pytest.approx(mean, abs=1e-9)
    assert fit.shift == pytest.approx(residual.mean(), abs=1e-9)
    assert fit.scale == pytest.approx(residual.std(), rel=1e-6)  # no forces: residual spread
    if not separable:  # H and O only in water: the fit cannot split them, H2O is still right
        water = 2 * fit.atomic_energies[1] + fit.atomic_energies[8]
        assert water == pytest.approx(-2 * 13.6 - 2040.0, abs=0.05)


def test_packed_columns_give_the_per_structure_fit(tmp_path):
    """Packed files (and views of them) are fitted from columns: the same as structure by
    structure, in float32 and float64; elements and unknown elements from the z column."""
    mad = Path(__file__).resolve().parents[2] / "data" / "mad_sample" / "test.xyz"
    co2 = mad.parents[1] / "molcrys_x23" / "07_co2.xyz"
    pack_structures([mad], tmp_path / "mad.h5", progress=False)
    pack_structures([co2], tmp_path / "co2.h5", progress=False)
    for dtype in (torch.float32, torch.float64):
        both = ConcatStructures(
            [PackedDataset(tmp_path / "mad.h5", dtype=dtype), PackedDataset(tmp_path / "co2.h5")]
        )
        rest, held = split_structures(both, 0.3, seed=2)
        view = IndexedStructures(rest, [0, 5, 5, 9, len(rest) - 1, 40])  # repeats count twice
        for data in (both, rest, held, view, both.parts[0][3:50:4]):
            elements = dataset_elements(data)
            assert elements == sorted({int(z) for d in data for z in d.z})
            fast = fit_energy_normalization(data, elements)
            slow = fit_energy_normalization(list(data), elements)
            assert fast.scale == pytest.approx(slow.scale, rel=1e-12)
            assert fast.shift == pytest.approx(slow.shift, abs=1e-9)
            for z in elements:
                assert fast.atomic_energies[z] == pytest.approx(slow.atomic_energies[z], abs=1e-8)
    with pytest.raises(
        ValueError, match=r"co2\.h5', structure 0 .*07_co2\.xyz' frame 0.*element 6"
    ):
        fit_energy_normalization(PackedDataset(tmp_path / "co2.h5"), [1, 8])
