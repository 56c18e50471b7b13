"""read_structures, atoms_to_data and data_to_atoms against ASE's reading of the shipped files."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from torch_geometric.data import Batch

from pyg_fcl.data import atoms_to_data, data_to_atoms, read_structures

DATA = Path(__file__).resolve().parents[2] / "data"
MAD_TEST = DATA / "mad_sample" / "test.xyz"
MAD_BENCH = DATA / "mad_sample" / "mad_bench_nonbulk.xyz"
ACETIC = DATA / "molcrys_x23" / "02_acetic_acid.xyz"
CO2 = DATA / "molcrys_x23" / "07_co2.xyz"

CASES = [(MAD_TEST, ":20"), (MAD_BENCH, ":"), (ACETIC, ":14"), (CO2, "::40")]


def _ase_stress(atoms: Atoms) -> np.ndarray | None:
    try:
        return atoms.get_stress(voigt=False)
    except PropertyNotImplementedError:
        return None


@pytest.mark.parametrize("path,index", CASES, ids=lambda v: getattr(v, "name", v))
def test_values_equal_ase(path, index):
    frames = ase.io.read(path, index=index)
    data = read_structures(path, index=index, dtype=torch.float64)
    assert len(data) == len(frames) > 0
    start, _, step = (index.split(":") + [""])[:3]
    expected_frames = [int(start or 0) + k * int(step or 1) for k in range(len(frames))]
    for d, atoms, frame in zip(data, frames, expected_frames):
        n = len(atoms)
        assert d.z.dtype == torch.long and d.z.tolist() == atoms.numbers.tolist()
        assert d.pos.shape == (n, 3) and np.array_equal(d.pos.numpy(), atoms.positions)
        assert d.cell.shape == (1, 3, 3) and np.array_equal(d.cell[0].numpy(), atoms.cell[:])
        assert d.pbc.dtype == torch.bool and d.pbc[0].tolist() == atoms.pbc.tolist()
        assert d.energy.shape == (1,) and d.energy.item() == atoms.get_potential_energy()
        assert np.array_equal(d.forces.numpy(), atoms.get_forces())
        stress = _ase_stress(atoms)
        assert d.has_stress.item() == (stress is not None)
        if stress is not None:
            assert np.array_equal(d.stress[0].numpy(), stress)
        else:
            assert d.stress_weight.item() == 0.0 and not d.stress.any()
        assert d.has_energy.item() and d.has_forces.item()
        assert d.subset == atoms.info.get("subset", "")
        assert d.system == atoms.info.get("system", "")
        assert d.source == str(path) and d.frame.tolist() == [frame]


def test_frame_numbers_for_negative_and_strided_index():
    n = len(ase.io.read(MAD_BENCH, index=":"))
    tail = read_structures(MAD_BENCH, index="-3:", dtype=torch.float64)
    assert [d.frame.item() for d in tail] == [n - 3, n - 2, n - 1]
    single = read_structures(MAD_BENCH, index=-1, dtype=torch.float64)[0]
    assert single.frame.item() == n - 1
    for d in read_structures(MAD_BENCH, index="1:9:3", dtype=torch.float64):
        atoms = ase.io.read(MAD_BENCH, index=d.frame.item())
        assert np.array_equal(d.pos.numpy(), atoms.positions)


def test_stress_weight_from_info():
    frames = ase.io.read(ACETIC, index=":14")
    data = read_structures(ACETIC, index=":14")
    weights = [float(a.info.get("config_stress_weight", 1.0)) for a in frames]
    assert 0.0 in weights and 1.0 in weights  # the file mixes gas-phase and crystal frames
    assert [d.stress_weight.item() for d in data] == weights
    assert all(d.has_stress.item() for d in data)


def test_default_dtype_and_explicit_dtype():
    d = read_structures(MAD_BENCH, index="0")[0]
    assert d.pos.dtype == d.energy.dtype == d.cell.dtype == torch.get_default_dtype()
    d64 = read_structures(MAD_BENCH, index="0", dtype=torch.float64)[0]
    assert d64.forces.dtype == d64.stress.dtype == torch.float64
    with pytest.raises(ValueError, match="floating-point"):
        read_structures(MAD_BENCH, index="0", dtype=torch.long)


@pytest.mark.parametrize("path,index", CASES[:3], ids=lambda v: getattr(v, "name", v))
def test_round_trip_data_to_atoms(path, index):
    for atoms, d in zip(
        ase.io.read(path, index=index), read_structures(path, index, dtype=torch.float64)
    ):
        back = data_to_atoms(d)
        assert np.array_equal(back.numbers, atoms.numbers)
        assert np.array_equal(back.positions, atoms.positions)
        assert np.array_equal(back.cell[:], atoms.cell[:])
        assert np.array_equal(back.pbc, atoms.pbc)
        assert back.get_potential_energy() == atoms.get_potential_energy()
        assert np.array_equal(back.get_forces(), atoms.get_forces())
        stress = _ase_stress(atoms)
        if stress is None:
            assert _ase_stress(back) is None
        else:
            np.testing.assert_allclose(back.get_stress(voigt=False), stress, rtol=0, atol=1e-15)
        assert back.info.get("subset") == atoms.info.get("subset")


def test_batch_collation_mixed_files():
    data = read_structures(MAD_BENCH, index=":5") + read_structures(ACETIC, index="8:12")
    batch = Batch.from_data_list(data)
    g = len(data)
    assert batch.num_graphs == g
    assert batch.cell.shape == (g, 3, 3) and batch.pbc.shape == (g, 3)
    assert batch.energy.shape == (g,) and batch.stress.shape == (g, 3, 3)
    assert batch.has_stress.shape == batch.has_forces.shape == batch.stress_weight.shape == (g,)
    assert batch.forces.shape == batch.pos.shape == (sum(d.num_nodes for d in data), 3)
    assert batch.subset == [d.subset for d in data] and batch.system == [d.system for d in data]
    assert batch.source == [str(MAD_BENCH)] * 5 + [str(ACETIC)] * 4
    assert batch.frame.tolist() == [0, 1, 2, 3, 4, 8, 9, 10, 11]
    for i, d in enumerate(data):
        example = batch.get_example(i)
        assert torch.equal(example.pos, d.pos) and torch.equal(example.cell, d.cell)
        assert example.subset == d.subset


def _labelled(n: int, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = Atoms(numbers=rng.integers(1, 10, n), positions=rng.uniform(0, 5, (n, 3)))
    atoms.cell = np.diag([6.0, 7.0, 8.0]) + rng.uniform(-0.5, 0.5, (3, 3))
    atoms.pbc = True
    return atoms


def test_ref_keys_in_info_and_arrays(tmp_path):
    rng = np.random.default_rng(0)
    a, b = _labelled(4, 1), _labelled(5, 2)
    full = rng.normal(size=(3, 3))
    full = full + full.T
    voigt = rng.normal(size=6)  # xx yy zz yz xz xy
    voigt_full = np.array(
        [
            [voigt[0], voigt[5], voigt[4]],
            [voigt[5], voigt[1], voigt[3]],
            [voigt[4], voigt[3], voigt[2]],
        ]
    )
    for atoms, stress in ((a, full), (b, voigt)):
        atoms.info["REF_energy"] = float(rng.normal())
        atoms.info["REF_stress"] = stress
        atoms.arrays["REF_forces"] = rng.normal(size=(len(atoms), 3))
    path = tmp_path / "ref.xyz"
    ase.io.write(path, [a, b], format="extxyz")
    data = read_structures(
        path,
        energy_key="REF_energy",
        forces_key="REF_forces",
        stress_key="REF_stress",
        dtype=torch.float64,
    )
    for d, atoms, stress in zip(data, (a, b), (full, voigt_full)):
        assert d.energy.item() == atoms.info["REF_energy"]
        # extxyz stores per-atom arrays with 8 decimals, info values in full precision
        np.testing.assert_allclose(d.forces.numpy(), atoms.arrays["REF_forces"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(d.stress[0].numpy(), stress, rtol=1e-14)
        assert d.has_stress.item() and d.stress_weight.item() == 1.0


def _two_frames(tmp_path, drop: str) -> Path:
    frames = []
    for k in range(2):
        atoms = _labelled(3, 10 + k)
        results = {"energy": -1.0 - k, "forces": np.full((3, 3), 0.1 * k)}
        if k == 1:
            results.pop(drop)
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    path = tmp_path / f"no_{drop}.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def test_missing_label_error_names_file_frame_and_key(tmp_path):
    with pytest.raises(ValueError) as err:
        read_structures(MAD_TEST, index=":2", energy_key="REF_energy")
    msg = str(err.value)
    assert str(MAD_TEST) in msg and "frame 0" in msg and "'REF_energy'" in msg
    assert "'energy'" in msg  # the keys that are present are listed
    path = _two_frames(tmp_path, "forces")
    with pytest.raises(ValueError, match=r"frame 1: no forces label under key 'forces'") as err:
        read_structures(path)
    assert str(path) in str(err.value)


def test_allow_missing_forces_and_energy(tmp_path):
    path = _two_frames(tmp_path, "forces")
    data = read_structures(path, allow_missing_forces=True)
    assert [d.has_forces.item() for d in data] == [True, False]
    assert not data[1].forces.any() and data[1].forces.shape == (3, 3)
    batch = Batch.from_data_list(data)
    node_mask = batch.has_forces[batch.batch]  # how a loss skips frames without forces
    assert node_mask.tolist() == [True] * 3 + [False] * 3
    path = _two_frames(tmp_path, "energy")
    with pytest.raises(ValueError, match="frame 1: no energy label"):
        read_structures(path)
    data = read_structures(path, allow_missing_energy=True)
    assert [d.has_energy.item() for d in data] == [True, False]
    assert data[0].energy.item() == -1.0


def test_atoms_to_data_without_labels_and_without_cell():
    atoms = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    d = atoms_to_data(atoms)
    assert not (d.has_energy.item() or d.has_forces.item() or d.has_stress.item())
    assert not d.cell.any() and d.pbc.tolist() == [[False, False, False]]
    assert d.source == "" and d.frame.item() == -1 and d.subset == ""
    back = data_to_atoms(d)
    assert back.calc is None and np.allclose(back.positions, atoms.positions, atol=1e-6)
    with pytest.raises(ValueError, match="no energy label"):
        atoms_to_data(atoms, require_energy=True)
    boxed = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=np.diag([5.0, 6.0, 7.0]))
    d = atoms_to_data(boxed, dtype=torch.float64)  # a cell without periodicity is kept as is
    assert d.cell[0].tolist() == np.diag([5.0, 6.0, 7.0]).tolist() and not d.pbc.any()


def test_validation_errors(tmp_path):
    bad = _labelled(4, 3)
    bad.positions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"'f.xyz', frame 7, atom 2: non-finite position"):
        atoms_to_data(bad, source="f.xyz", frame=7)
    bad = _labelled(3, 4)
    bad.calc = SinglePointCalculator(bad, energy=1.0, forces=[[0, 0, 0], [0, np.inf, 0], [0, 0, 0]])
    path = tmp_path / "inf.xyz"
    ase.io.write(path, [_labelled(2, 5), bad], format="extxyz")
    with pytest.raises(ValueError, match=r"frame 1, atom 1: non-finite forces") as err:
        read_structures(path, allow_missing_energy=True, allow_missing_forces=True)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="atom 1: invalid atomic number 0"):
        atoms_to_data(Atoms(numbers=[1, 0], positions=np.zeros((2, 3))))
    with pytest.raises(ValueError, match="no atoms"):
        atoms_to_data(Atoms())
    weird = _labelled(2, 6)
    weird.calc = SinglePointCalculator(weird, energy=0.0, forces=np.zeros((2, 3)), stress=[1.0] * 6)
    weird.info["config_stress_weight"] = -1.0
    with pytest.raises(ValueError, match=r"info\['config_stress_weight'\] = -1.0"):
        atoms_to_data(weird)
    flat = Atoms("H", cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0]], pbc=True)
    with pytest.raises(ValueError, match="periodic direction 2 has a zero lattice vector"):
        atoms_to_data(flat)
    with pytest.raises(ValueError, match="does not exist"):
        read_structures(tmp_path / "missing.xyz")


def test_data_to_atoms_rejects_batches():
    batch = Batch.from_data_list(read_structures(MAD_BENCH, index=":2"))
    with pytest.raises(ValueError, match="single graph"):
        data_to_atoms(batch)
