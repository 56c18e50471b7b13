"""Packed datasets: every field equals read_structures, stored graphs equal a fresh search,
packing is atomic, and bad files (truncated, garbage, foreign HDF5) fail naming the file."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import ase.io
import h5py
import pytest
import torch

from pyg_fcl import read_structures
from pyg_fcl.cli import main
from pyg_fcl.data import PackedDataset, pack_structures
from pyg_fcl.data.packed import subset_labels
from pyg_fcl.data.views import ConcatStructures
from pyg_fcl.train import read_training_data, split_structures
from pyg_fcl.transforms import FlexibleRadiusGraph

DATA = Path(__file__).resolve().parents[2] / "data"
CO2 = DATA / "molcrys_x23" / "07_co2.xyz"
MAD = DATA / "mad_sample" / "test.xyz"


def assert_same(a, b, where=""):
    assert sorted(a.keys()) == sorted(b.keys()), where
    for key in a.keys():
        if torch.is_tensor(a[key]):
            assert a[key].dtype == b[key].dtype, (where, key)
            assert torch.equal(a[key], b[key]), (where, key)
        else:
            assert a[key] == b[key], (where, key)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "co2_mad.h5"
    summary = pack_structures([CO2, MAD], out, progress=False)
    return out, summary


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_frame_equals_read_structures(packed, dtype):
    path, summary = packed
    ref = read_structures(CO2, dtype=dtype) + read_structures(MAD, dtype=dtype)
    dataset = PackedDataset(path, dtype=dtype)
    assert len(dataset) == len(ref) == summary["num_frames"]
    assert summary["num_atoms"] == sum(d.num_nodes for d in ref)
    assert dataset.elements == sorted({int(z) for d in ref for z in d.z})
    for index in range(len(ref)):
        assert_same(ref[index], dataset[index], index)
    assert_same(ref[-1], dataset[-1])
    with pytest.raises(IndexError):
        dataset[len(ref)]


def test_views_subsets_concat_and_pickle(packed):
    path, _ = packed
    dataset = PackedDataset(path)
    ref = read_structures(CO2) + read_structures(MAD)
    view = dataset[5:40:7]
    assert len(view) == len(ref[5:40:7]) and view.elements is None
    for a, b in zip(ref[5:40:7], view):
        assert_same(a, b)
    assert_same(view[2], pickle.loads(pickle.dumps(view))[2])
    # subsets: the same frames as read_mad's filter
    mad = read_training_data(MAD, subsets=["MC3D"])
    chosen = read_training_data(path, subsets=["mc3d"])
    assert len(chosen) == len(mad) > 0
    for a, b in zip(mad, chosen):
        assert torch.equal(a.pos, b.pos) and a.subset == b.subset == "MC3D"
    # a packed file and an extxyz file together, then a lazy split
    both = read_training_data([path, CO2])
    assert isinstance(both, ConcatStructures) and len(both) == len(dataset) + 186
    assert_same(both[len(dataset) + 3], read_structures(CO2)[3])
    for data in (dataset, view, chosen, both):  # one column read = iterating every frame
        assert subset_labels(data) == {d.subset or "unlabelled" for d in data}
    assert subset_labels(chosen) == {"MC3D"}
    rest, held = split_structures(both, 0.25, seed=1)
    mem_rest, mem_held = split_structures(list(ref) + read_structures(CO2), 0.25, seed=1)
    assert len(held) == len(mem_held) and all(
        torch.equal(a.pos, b.pos) for a, b in zip(held, mem_held)
    )
    assert len(rest) == len(mem_rest)


def test_stored_graphs_equal_a_fresh_search(tmp_path):
    out = tmp_path / "g.h5"
    pack_structures([CO2], out, graph_r_max=5.0, progress=False)
    dataset = PackedDataset(out)
    graph = FlexibleRadiusGraph(5.0)
    for index in (0, 7, 100):
        fresh = graph.build_cache(read_structures(CO2, index=f"{index}:{index + 1}")[0])
        stored = dataset[index]
        assert graph.is_cached(stored)
        assert torch.equal(stored.rmax_edge_index, fresh.rmax_edge_index)
        assert torch.equal(stored.rmax_edge_shift, fresh.rmax_edge_shift)
        torch.testing.assert_close(stored.rmax_edge_length, fresh.rmax_edge_length)
    # a model with a larger r_max cannot use graphs searched at 5 Å
    assert not FlexibleRadiusGraph(5.5).is_cached(dataset[0])
    assert "rmax_edge_index" not in PackedDataset(out, graphs=False)[0]


def test_failed_pack_leaves_nothing_behind(tmp_path):
    bad = tmp_path / "bad.xyz"
    lines = CO2.read_text().splitlines(keepends=True)
    n = int(lines[0]) + 2
    second = lines[n : 2 * n]
    second[1] = second[1].replace("energy=", "not_energy=")
    bad.write_text("".join(lines[:n] + second))
    out = tmp_path / "out.h5"
    out.write_text("previous content")
    with pytest.raises(ValueError, match=r"bad\.xyz.*frame 1.*energy"):
        pack_structures([bad], out, progress=False)
    assert out.read_text() == "previous content"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_truncated_garbage_and_foreign_files_are_named(packed, tmp_path):
    path, _ = packed
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"truncated\.h5.*truncated or damaged"):
        PackedDataset(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not a dataset" * 10)
    with pytest.raises(ValueError, match=r"garbage\.h5.*not an HDF5 file"):
        PackedDataset(garbage)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(ValueError, match=r"foreign\.h5.*not a pyg-fcl packed dataset"):
        read_training_data(foreign)
    with pytest.raises(ValueError, match=r"missing\.h5.*does not exist"):
        PackedDataset(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="packed with energy_key='energy'"):
        read_training_data(path, energy_key="REF_energy")


def test_cli_pack_and_info(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    assert main(["data", "pack", str(CO2), str(out), "--no-progress"]) == 0
    assert "packed 186 structures" in capsys.readouterr().out
    assert main(["data", "info", str(out)]) == 0
    assert "186 frames" in capsys.readouterr().out
    assert main(["data", "pack", str(CO2), str(tmp_path / "x.xyz")]) == 1
    assert "should end in .h5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["data", "pack", "--help"])
    assert exc.value.code == 0 and "examples:" in capsys.readouterr().out


def test_cli_train_and_evaluate_read_packed_files(tmp_path, capsys):
    """pyg-fcl train/evaluate take a packed file where they take extxyz: the same errors."""
    small = tmp_path / "small.xyz"
    ase.io.write(small, ase.io.read(CO2, index="::12"), format="extxyz")
    packed = tmp_path / "small.h5"
    pack_structures([small], packed, progress=False)
    torch.manual_seed(0)
    train = ["train", "--train", str(packed), "--val-fraction", "0.25", "--r-min", "3"]
    train += ["--r-max", "4.5", "--model-factory", "fcl_toy:ToyPairModel", "--epochs", "1"]
    train += ["--batch-size", "4", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "r")]
    assert main(train) == 0
    assert "trained 3 steps (FCL)" in capsys.readouterr().out
    results = {}
    for name, data in (("xyz", small), ("h5", packed)):
        out = tmp_path / f"{name}.json"
        args = ["evaluate", "--model", str(tmp_path / "r" / "best.pt"), "--data", str(data)]
        assert main([*args, "--cutoff", "4", "--device", "cpu", "--json", str(out)]) == 0
        results[name] = json.loads(out.read_text())["overall"]
    assert results["h5"] == results["xyz"] and results["h5"]["num_structures"] == 16
