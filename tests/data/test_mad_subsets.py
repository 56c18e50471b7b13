"""MAD subset names and the MAD-layout reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import ase.io
import pytest
import torch

from pyg_fcl.data import MAD_BENCH_SUBSETS, MAD_SUBSETS, normalize_subset, read_mad

DATA = Path(__file__).resolve().parents[2] / "data"
MAD_TEST = DATA / "mad_sample" / "test.xyz"
MAD_BENCH = DATA / "mad_sample" / "mad_bench_nonbulk.xyz"


def test_canonical_names_map_to_themselves():
    assert len(MAD_SUBSETS) == 8 and len(set(MAD_SUBSETS) & set(MAD_BENCH_SUBSETS)) == 0
    for name in MAD_SUBSETS + MAD_BENCH_SUBSETS:
        assert normalize_subset(name) == name


@pytest.mark.parametrize(
    "spelling,canonical",
    [
        ("MC3D-surfaces", "MC3D-surface"),
        ("mc3d_surface", "MC3D-surface"),
        ("MC3D-clusters", "MC3D-cluster"),
        ("mc3d cluster", "MC3D-cluster"),
        ("mc3d", "MC3D"),
        ("MC3D_RATTLED", "MC3D-rattled"),
        ("mc3d-random", "MC3D-random"),
        ("mc2d", "MC2D"),
        ("shiftml_molcrys", "SHIFTML-molcrys"),
        ("SHIFTML-molfrag", "SHIFTML-molfrags"),
        (" Shiftml-Molfrags ", "SHIFTML-molfrags"),
        ("2D", "2d"),
        ("nanocluster", "nanoclusters"),
        ("Molecule", "molecules"),
        ("surface", "surfaces"),
        ("IDEAL", "ideal"),
    ],
)
def test_spellings(spelling, canonical):
    assert normalize_subset(spelling) == canonical


def test_unknown_subset():
    with pytest.raises(ValueError, match="unknown MAD subset 'MC4D'") as err:
        normalize_subset("MC4D")
    assert all(name in str(err.value) for name in MAD_SUBSETS)
    assert normalize_subset("MC4D", strict=False) == "MC4D"


def test_shipped_labels_are_known():
    for path in (MAD_TEST, MAD_BENCH):
        for atoms in ase.io.read(path, index=":"):
            label = atoms.info["subset"]
            assert normalize_subset(label) == label


def test_read_mad_filters_like_ase():
    frames = ase.io.read(MAD_TEST, index=":")
    wanted = [k for k, a in enumerate(frames) if a.info["subset"] in ("MC3D-random", "MC3D")]
    data = read_mad(MAD_TEST, subsets=["mc3d_random", "MC3D"], dtype=torch.float64)
    assert [d.frame.item() for d in data] == wanted
    assert Counter(d.subset for d in data) == Counter(frames[k].info["subset"] for k in wanted)
    for d in data:
        assert d.energy.item() == frames[d.frame.item()].get_potential_energy()
    assert len(read_mad(MAD_TEST, index=":10")) == 10  # no filter: everything


def test_read_mad_directory_and_plural_labels(tmp_path):
    frames = ase.io.read(MAD_BENCH, index=":")
    for atoms in frames:  # relabel with full-MAD names, in plural / lower-case spellings
        atoms.info["subset"] = {"surfaces": "MC3D-surfaces", "nanoclusters": "mc3d_clusters"}.get(
            atoms.info["subset"], atoms.info["subset"]
        )
    ase.io.write(tmp_path / "b.xyz", frames[5:], format="extxyz")
    ase.io.write(tmp_path / "a.extxyz", frames[:5], format="extxyz")
    (tmp_path / "notes.txt").write_text("not a structure file")
    data = read_mad(tmp_path, subsets="MC3D-cluster")
    expected = [k for k, a in enumerate(frames) if a.info["subset"] == "mc3d_clusters"]
    assert len(data) == len(expected) == 3
    assert {d.subset for d in data} == {"MC3D-cluster"}
    assert [Path(d.source).name for d in data] == [
        "a.extxyz" if k < 5 else "b.xyz" for k in expected
    ]
    assert [d.subset for d in read_mad([tmp_path / "b.xyz"], subsets=["MC3D-surfaces"])] == [
        "MC3D-surface"
    ]


def test_read_mad_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown MAD subset 'bulk'") as err:
        read_mad(MAD_TEST, subsets=["MC3D", "bulk"])
    assert "SHIFTML-molfrags" in str(err.value)
    with pytest.raises(ValueError, match="does not exist"):
        read_mad(tmp_path / "nothing.xyz")
    with pytest.raises(ValueError, match="no .xyz or .extxyz files"):
        read_mad(tmp_path)
    atoms = ase.io.read(MAD_BENCH, index=0)
    del atoms.info["subset"]
    ase.io.write(tmp_path / "nolabel.xyz", atoms, format="extxyz")
    with pytest.raises(ValueError, match=r"frame 0: MAD-layout frame has no info\['subset'\]"):
        read_mad(tmp_path / "nolabel.xyz")
