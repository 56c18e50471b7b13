"""examples/train_mad.py runs end to end on the MAD sample with a tiny budget."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("pyg_fcl_models")


def _example():
    spec = importlib.util.spec_from_file_location("train_mad", ROOT / "examples" / "train_mad.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_mad_tiny_budget(tmp_path):
    out = tmp_path / "mad"
    results = _example().main(
        [
            "--data-dir", str(ROOT / "data" / "mad_sample"), "--size", "tiny",
            "--subsets", "MC3D", "shiftml_molcrys", "--max-structures", "8", "--max-test", "6",
            "--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--r-min", "3",
            "--r-max", "4.5", "--scl-cutoffs", "4", "--eval-cutoffs", "3.5", "4.5",
            "--no-progress", "--device", "cpu", "--out", str(out),
        ]
    )  # fmt: skip
    assert set(results) == {"FCL", "SCL 4"}
    assert set(results["FCL"]) == {"3.5", "4", "4.5"} and set(results["SCL 4"]) == {"4"}
    fcl = results["FCL"]["4.5"]
    assert fcl["overall"]["num_structures"] == 6
    assert set(fcl["subsets"]) <= {"MC3D", "SHIFTML-molcrys"}
    assert results["FCL"]["3.5"]["overall"]["pairs_per_atom"] < fcl["overall"]["pairs_per_atom"]
    saved = json.loads((out / "results.json").read_text())
    assert Path(saved["checkpoints"]["FCL"]).is_file()
    assert (out / "fcl" / "metrics.csv").is_file() and (out / "scl_4" / "best.pt").is_file()


def test_seeds_share_the_test_frames_unless_split_seed_changes():
    example = _example()
    files = [str(ROOT / "data" / "molcrys_x23" / "07_co2.xyz")]

    def test_positions(*extra):
        args = example.parse_args(["--train", *files, "--test-fraction", "0.2", *extra])
        return [d.pos.sum().item() for d in example.load_splits(args)[2]]

    same = test_positions("--seed", "0")
    assert test_positions("--seed", "3") == same
    assert test_positions("--seed", "0", "--split-seed", "1") != same


def test_no_fcl_trains_only_the_scl_baselines(tmp_path, capsys):
    example = _example()
    with pytest.raises(SystemExit):
        example.parse_args(["--no-fcl"])
    assert "--scl-cutoffs" in capsys.readouterr().err
    results = example.main(
        [
            "--data-dir", str(ROOT / "data" / "mad_sample"), "--size", "tiny",
            "--subsets", "MC3D", "--max-structures", "4", "--max-test", "2", "--epochs", "1",
            "--max-steps", "1", "--r-min", "3", "--r-max", "4", "--no-fcl", "--scl-cutoffs",
            "3.5", "--no-progress", "--device", "cpu", "--out", str(tmp_path / "scl"),
        ]
    )  # fmt: skip
    assert set(results) == {"SCL 3.5"} and not (tmp_path / "scl" / "fcl").exists()


def test_distill_recipe_trains_the_student_against_an_scl_teacher_at_r_max(tmp_path):
    """--recipe distill: an SCL teacher at r_max, then an FCL student started from its weights
    and trained against its labels (written next to the student's checkpoints)."""
    out = tmp_path / "distill"
    results = _example().main(
        [
            "--data-dir", str(ROOT / "data" / "mad_sample"), "--size", "tiny",
            "--subsets", "MC3D", "--max-structures", "8", "--max-test", "4",
            "--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--r-min", "3",
            "--r-max", "4.5", "--eval-cutoffs", "3.5", "4.5", "--recipe", "distill",
            "--no-progress", "--device", "cpu", "--out", str(out),
        ]
    )  # fmt: skip
    assert set(results) == {"SCL 4.5 (pretrain)", "FCL"}
    assert set(results["SCL 4.5 (pretrain)"]) == {"4.5"}
    config = json.loads((out / "fcl" / "metrics.json").read_text())["config"]
    teacher = str(out / "pretrain" / "best.pt")
    assert config["teacher"] == teacher and config["init_from"] == teacher
    assert (out / "fcl" / "teacher_labels_train.pt").is_file()
