"""``pyg-fcl distill`` end to end, and ``pyg-fcl md`` snapshots as its unlabelled input."""

from __future__ import annotations

import json

import pytest
import torch
from ase.io import read
from train_helpers import MOLCRYS, toy_model

from pyg_fcl import evaluate, load_model, read_structures, save_model
from pyg_fcl.cli import main
from pyg_fcl.train.teacher import teacher_predictions, with_teacher_labels


def test_distill_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["distill", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "pyg-fcl distill --teacher 7net-0" in out
    assert "--trajectory snapshots.xyz" in out


@pytest.fixture
def teacher_and_snapshots(tmp_path):
    """A fixed-cutoff toy teacher and unlabelled snapshots made by ``pyg-fcl md`` with it."""
    teacher = toy_model(seed=5, r_min=None)
    save_model(teacher, tmp_path / "teacher.pt")
    structure = tmp_path / "co2.xyz"
    atoms = read(MOLCRYS / "07_co2.xyz", index=20)  # a 12-atom crystal frame
    atoms.write(structure)
    snapshots = tmp_path / "snapshots.xyz"
    args = ["md", "--model", str(tmp_path / "teacher.pt"), "--structure", str(structure)]
    args += ["--steps", "12", "--save-every", "2", "--trajectory", str(snapshots)]
    args += ["--ensemble", "langevin", "--temperature", "600", "--warmup", "0"]
    assert main(args) == 0
    return tmp_path / "teacher.pt", snapshots


def test_md_saves_unlabelled_extxyz_snapshots(teacher_and_snapshots, tmp_path):
    teacher_path, snapshots = teacher_and_snapshots
    frames = read_structures(snapshots, allow_missing_energy=True, allow_missing_forces=True)
    assert len(frames) == 6  # steps 2, 4, ..., 12
    assert not any(bool(d.has_energy) or bool(d.has_forces) for d in frames)
    atoms = read(snapshots, index=":")
    assert [a.info["step"] for a in atoms] == [2, 4, 6, 8, 10, 12]
    assert all(a.pbc.all() and a.cell.volume > 0 for a in atoms)
    # the same run written as an ASE .traj holds the same positions
    structure = tmp_path / "co2.xyz"
    args = ["md", "--model", str(teacher_path), "--structure", str(structure), "--steps", "12"]
    args += ["--save-every", "2", "--trajectory", str(tmp_path / "same.traj")]
    args += ["--ensemble", "langevin", "--temperature", "600", "--warmup", "0"]
    assert main(args) == 0
    traj = read(tmp_path / "same.traj", index=":")
    assert len(traj) == 6
    for a, b in zip(atoms, traj):
        assert abs(a.positions - b.positions).max() < 1e-6
    assert abs(atoms[0].positions - atoms[-1].positions).max() > 1e-3  # the atoms moved


def test_distill_cli_copy_and_new_student(teacher_and_snapshots, tmp_path, capsys):
    teacher_path, snapshots = teacher_and_snapshots
    common = ["distill", "--teacher", str(teacher_path), "--data", str(snapshots)]
    common += ["--val-fraction", "0.34", "--r-min", "3", "--epochs", "2", "--batch-size", "2"]
    common += ["--device", "cpu", "--no-progress", "--val-cutoffs", "4.5", "3.5"]
    out = tmp_path / "copy"
    assert main([*common, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "deviation from the teacher @ 3.5 Å" in printed
    assert (out / "teacher_labels_train.pt").is_file()
    student = load_model(out / "best.pt")
    assert (student.r_min, student.r_max) == (3.0, 4.5)
    meta = student.checkpoint_meta["train_config"]
    assert meta["teacher"] == str(teacher_path) and meta["lr"] == 1e-3
    # the logged validation errors are deviations from the teacher's own predictions
    frames = read_structures(snapshots, allow_missing_energy=True, allow_missing_forces=True)
    from pyg_fcl.train import split_structures

    _, val = split_structures(frames, 0.34, 0)
    teacher = load_model(teacher_path)
    reference = with_teacher_labels(val, teacher_predictions(teacher, val, progress=False))
    logged = json.loads((out / "metrics.json").read_text())["history"][-1]["val"]
    want = evaluate(student, reference, 3.5)["overall"]["forces_rmse"]
    assert logged["3.5"]["overall"]["forces_rmse"] == pytest.approx(want, rel=1e-5)

    # the run is not clobbered by a second command into the same folder
    assert main([*common, "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err

    # a new student from a factory; a missing teacher is a clear error
    out = tmp_path / "new"
    args = [*common, "--student", "fcl_toy:ToyPairModel", "--model-kwargs", '{"hidden": 8}']
    assert main([*args, "--out", str(out)]) == 0
    student = load_model(out / "best.pt")
    assert student.hidden == 8 and student.checkpoint_meta["train_config"]["lr"] == 5e-3
    # a teacher that does not know an element: an error naming the structure, or --drop-unknown
    save_model(toy_model(seed=5, r_min=None, elements=(6,)), tmp_path / "carbon.pt")
    args = ["distill", "--teacher", str(tmp_path / "carbon.pt"), "--data", str(snapshots)]
    args += ["--r-min", "3", "--max-steps", "1", "--no-progress", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "c1")]) == 1
    assert "snapshots.xyz:0" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "c2"), "--drop-unknown"]) == 1
    assert "6 structures with elements the teacher does not know left out" in (
        capsys.readouterr().out
    )
    bad = ["distill", "--teacher", str(tmp_path / "missing.pt"), "--data", str(snapshots)]
    assert main([*bad, "--r-min", "3", "--out", str(tmp_path / "x")]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_distill_cli_copy_with_changed_kwargs_and_lr_scale(teacher_and_snapshots, tmp_path, capsys):
    """``--student copy --model-kwargs`` rebuilds the teacher's class with changed arguments and
    the teacher's weights; ``--lr-scale`` freezes a prefix (saved in the run's config)."""
    teacher_path, snapshots = teacher_and_snapshots
    args = ["distill", "--teacher", str(teacher_path), "--data", str(snapshots), "--r-min", "3"]
    args += ["--max-steps", "2", "--batch-size", "2", "--no-progress", "--device", "cpu"]
    args += ["--model-kwargs", '{"edge_rule": "max"}', "--lr-scale", '{"mlp.0.": 0}']
    assert main([*args, "--out", str(tmp_path / "d")]) == 0
    student, teacher = load_model(tmp_path / "d" / "last.pt"), load_model(teacher_path)
    assert student.edge_rule == "max" and teacher.edge_rule == "mean"
    assert student.checkpoint_meta["train_config"]["lr_scale"] == {"mlp.0.": 0.0}
    same = {n for n, v in student.state_dict().items() if torch.equal(v, teacher.state_dict()[n])}
    assert {"mlp.0.weight", "mlp.0.bias"} <= same and "mlp.2.weight" not in same
    bad = [*args[:-4], "--model-kwargs", '{"no_such_argument": 1}']
    assert main([*bad, "--out", str(tmp_path / "e")]) == 1
    assert "do not fit ToyPairModel" in capsys.readouterr().err
    bad = [*args[:-2], "--lr-scale", '["mlp.0."]']
    assert main([*bad, "--out", str(tmp_path / "f")]) == 1
    assert "--lr-scale must be a JSON object" in capsys.readouterr().err
