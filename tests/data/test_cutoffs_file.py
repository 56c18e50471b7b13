"""Cutoffs files (C.json): round trips, per-atom expansion, and the error cases."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch

from pyg_fcl.data import CutoffSpec, load_cutoffs, save_cutoffs

DATA = Path(__file__).resolve().parents[2] / "data"
ACETIC = DATA / "molcrys_x23" / "02_acetic_acid.xyz"


@pytest.fixture(scope="module")
def acetic():
    return ase.io.read(ACETIC, index=20)


def _specs():
    return [
        CutoffSpec.uniform(4.5, edge_rule="mean", r_max=6.0, meta={"lambda": 1e-3}),
        CutoffSpec.from_elements({"H": 3.25, "C": 4.0, 7: 4.75, "o": 5.5}, r_max=7.0),
        CutoffSpec.from_atoms([3.5, 4.25, 6.0], numbers=[1, 8, 1], structure="water.xyz"),
    ]


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.kind)
def test_json_round_trip(spec, tmp_path):
    path = tmp_path / "C.json"
    save_cutoffs(spec, path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "pyg-fcl-cutoffs" and raw["version"] == 1 and raw["kind"] == spec.kind
    assert load_cutoffs(path) == spec
    assert [p.name for p in tmp_path.iterdir()] == ["C.json"]  # no temporary file left behind


def test_element_file_is_keyed_by_symbol(tmp_path):
    save_cutoffs(_specs()[1], tmp_path / "C.json")
    raw = json.loads((tmp_path / "C.json").read_text())
    assert raw["elements"] == {"H": 3.25, "C": 4.0, "N": 4.75, "O": 5.5}
    raw["elements"] = {"1": 3.25, "6": 4.0, "7": 4.75, "8": 5.5}  # atomic numbers as keys
    (tmp_path / "Z.json").write_text(json.dumps(raw))
    assert load_cutoffs(tmp_path / "Z.json") == _specs()[1]


def test_per_atom_values(acetic):
    z = torch.as_tensor(acetic.numbers)
    assert torch.equal(_specs()[0].per_atom(z), torch.full((len(acetic),), 4.5))
    table = {"H": 3.25, "C": 4.0, "N": 4.75, "O": 5.5}
    expected = torch.tensor([table[s] for s in acetic.get_chemical_symbols()], dtype=torch.float64)
    got = _specs()[1].per_atom(acetic.numbers.tolist(), dtype=torch.float64)
    assert got.dtype == torch.float64 and torch.equal(got, expected)
    per_atom = CutoffSpec.from_atoms(expected, numbers=acetic.numbers.tolist())
    assert torch.equal(per_atom.per_atom(z, dtype=torch.float64), expected)


def test_numpy_and_tensor_inputs():
    spec = CutoffSpec.from_elements({np.int64(8): np.float32(4.5), "H": torch.tensor(3.0)})
    assert spec.elements == {1: 3.0, 8: 4.5}
    spec = CutoffSpec.from_atoms(torch.tensor([3.0, 4.0]), numbers=np.array([8, 1]))
    assert spec.atoms == (3.0, 4.0) and spec.numbers == (8, 1)
    assert CutoffSpec.from_atoms([3.0], numbers=["O"]).numbers == (8,)


def test_per_atom_errors(acetic):
    z = torch.as_tensor(acetic.numbers)
    with pytest.raises(ValueError, match=r"no cutoff for element O \(Z=8, atom \d+\)"):
        CutoffSpec.from_elements({"H": 3.0, "C": 4.0}).per_atom(z)
    with pytest.raises(ValueError, match=f"list 3 atoms, structure has {len(z)}"):
        _specs()[2].per_atom(z)
    with pytest.raises(ValueError, match="atom 1 is Z=8 in the cutoffs file but Z=1"):
        _specs()[2].per_atom(torch.tensor([1, 1, 1]))


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: CutoffSpec.uniform(-1.0), r"cutoff -1.0 outside \(0, inf\)"),
        (lambda: CutoffSpec.uniform(6.5, r_max=6.0), r"cutoff 6.5 outside \(0, 6.0\]"),
        (lambda: CutoffSpec.uniform(float("nan")), "cutoff nan outside"),
        (lambda: CutoffSpec.from_elements({"H": 3.0, 1: 4.0}), r"element H \(Z=1\) given twice"),
        (lambda: CutoffSpec.from_elements({"Xx": 3.0}), "unknown element 'Xx'"),
        (lambda: CutoffSpec.from_elements({"O": 8.0}, r_max=7.0), "element O: cutoff 8.0"),
        (lambda: CutoffSpec.from_atoms([3.0, 0.0]), r"atom 1: cutoff 0.0 outside"),
        (lambda: CutoffSpec.from_atoms([3.0], numbers=[1, 1]), "'numbers' has 2 entries"),
        (lambda: CutoffSpec.uniform(3.0, edge_rule="sum"), "edge_rule 'sum'"),
        (lambda: CutoffSpec(kind="element", value=3.0), "kind 'element' needs 'elements'"),
        (lambda: CutoffSpec(kind="pair", value=3.0), "cutoff kind 'pair'"),
    ],
)
def test_invalid_specs(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def _write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.mark.parametrize(
    "content,message",
    [
        ({"format": "other", "version": 1, "kind": "global", "value": 3.0}, "'format' is 'other'"),
        ({"format": "pyg-fcl-cutoffs", "version": 2, "kind": "global", "value": 3.0}, "newer"),
        ({"format": "pyg-fcl-cutoffs", "version": 1, "kind": "global"}, "needs 'value'"),
        (
            {"format": "pyg-fcl-cutoffs", "version": 1, "kind": "global", "value": 3, "atoms": [3]},
            "must not have 'atoms'",
        ),
        (
            {"format": "pyg-fcl-cutoffs", "version": 1, "kind": "global", "value": 3, "x": 1},
            r"unknown keys \['x'\]",
        ),
        ('{"format": "pyg-fcl-cutoffs", "version": 1, "kind": "global", "value": NaN}', "nan"),
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_invalid_files(tmp_path, content, message):
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(ValueError, match=message) as err:
        load_cutoffs(path)
    assert "bad.json" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_cutoffs(tmp_path / "none.json")


def test_save_replaces_atomically_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "C.json"
    save_cutoffs(_specs()[0], path)
    save_cutoffs(_specs()[1], path)
    assert load_cutoffs(path) == _specs()[1]
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        save_cutoffs(CutoffSpec.uniform(3.0, meta={"bad": object()}), path)
    assert load_cutoffs(path) == _specs()[1]
    assert [p.name for p in tmp_path.iterdir()] == ["C.json"]
