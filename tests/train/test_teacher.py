"""Label-free distillation: teacher labels, the Trainer's teacher option, its cache and resume."""

from __future__ import annotations

import copy

import pytest
import torch
from ase import Atoms
from ase.io import write
from ase.stress import voigt_6_to_full_3x3_stress
from train_helpers import toy_model
from train_worker import config

import pyg_fcl.train.teacher as teacher_mod
from pyg_fcl import (
    FCLCalculator,
    FlexibleSchNet,
    data_to_atoms,
    evaluate,
    read_structures,
    save_model,
)
from pyg_fcl.train import Trainer
from pyg_fcl.train.teacher import (
    cached_teacher_predictions,
    teacher_predictions,
    with_teacher_labels,
)


def _teacher(seed=5, r_max=4.5):
    return toy_model(seed=seed, r_max=r_max, r_min=None).double().eval()


def _labelled(teacher, structures):
    return with_teacher_labels(structures, teacher_predictions(teacher, structures, progress=False))


def _unlabelled_file(structures, path):
    frames = [
        Atoms(d.z.numpy(), d.pos.double().numpy(), cell=d.cell[0].double().numpy(), pbc=True)
        for d in structures
    ]
    write(path, frames, format="extxyz")
    return path


def test_teacher_labels_equal_the_teachers_own_prediction(structures):
    """Batched teacher labels = the teacher run by ASE (its own neighbour list) at r_max."""
    teacher = _teacher()
    labels = teacher_predictions(teacher, structures, batch_size=5, progress=False)
    labelled = with_teacher_labels(structures, labels)
    offset = 0
    for k, data in enumerate(structures):
        atoms = data_to_atoms(data)
        atoms.calc = FCLCalculator(teacher)  # r_max everywhere
        n = data.num_nodes
        energy = atoms.get_potential_energy()
        forces = torch.as_tensor(atoms.get_forces())
        stress = torch.as_tensor(voigt_6_to_full_3x3_stress(atoms.get_stress()))
        torch.testing.assert_close(labels["energy"][k].item(), energy, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(
            labels["forces"][offset : offset + n], forces, atol=1e-10, rtol=0
        )
        torch.testing.assert_close(labels["stress"][k], stress, atol=1e-10, rtol=0)
        # the labelled copy carries them in the structure's dtype; the original is untouched
        item = labelled[k]
        assert item.energy.dtype == data.pos.dtype and bool(item.has_stress)
        torch.testing.assert_close(item.forces, forces.to(data.pos.dtype))
        assert float(item.stress_weight) == float(data.stress_weight) == 1.0
        assert not torch.equal(data.forces, item.forces)
        offset += n


def test_unlabelled_extxyz_student_converges_toward_the_teacher(structures, tmp_path):
    """Unlabelled extxyz snapshots, a student that starts as a perturbed copy of the teacher:
    FCL distillation brings it back to the teacher at r_max (the deviation at 3.5 Å cannot
    vanish: the random teacher's pairs beyond 3.5 Å carry real force, which no 3.5 Å model
    sees; it must not grow)."""
    path = _unlabelled_file(structures, tmp_path / "snapshots.xyz")
    frames = read_structures(path, allow_missing_energy=True, allow_missing_forces=True)
    assert not any(bool(d.has_energy) or bool(d.has_forces) for d in frames)
    train, val = frames[0::2], frames[1::2]
    teacher = toy_model(seed=5, r_min=None).eval()
    reference = _labelled(teacher, val)
    student = copy.deepcopy(teacher).train()
    student.r_min = 3.0  # the range it is about to be trained for
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in student.mlp.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=gen))
    before = {c: evaluate(student, reference, c)["overall"]["forces_rmse"] for c in (4.5, 3.5)}
    cfg = config(
        tmp_path / "run",
        epochs=10,
        batch_size=3,
        lr=5e-3,
        ema_decay=None,
        r_min=3.0,
        p_rmax=0.5,
        fit_normalization=False,
        val_cutoffs=[4.5, 3.5],
    )
    trainer = Trainer(student, train, val, cfg, teacher=teacher)
    history = trainer.fit()
    after = {c: evaluate(student, reference, c)["overall"]["forces_rmse"] for c in (4.5, 3.5)}
    assert after[4.5] < 0.3 * before[4.5], (before, after)
    assert after[3.5] < 1.01 * before[3.5], (before, after)
    # the Trainer validated against the teacher's labels: its numbers are the deviations
    logged = history[-1]["val"]["4.5"]["overall"]["forces_rmse"]
    assert logged == pytest.approx(after[4.5], rel=1e-5)
    assert (tmp_path / "run" / "teacher_labels_train.pt").is_file()


def test_resume_with_a_teacher_is_exact_and_reads_the_cached_labels(
    structures, tmp_path, monkeypatch
):
    train, val = structures[:10], structures[10:]
    save_model(_teacher(), tmp_path / "teacher.pt")
    cfg = dict(epochs=3, teacher=str(tmp_path / "teacher.pt"))
    Trainer(toy_model(), train, val, config(tmp_path / "full", **cfg)).fit()
    Trainer(toy_model(), train, val, config(tmp_path / "part", max_steps=4, **cfg)).fit()

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran again on resume")

    monkeypatch.setattr(teacher_mod, "teacher_predictions", no_teacher)
    resumed = Trainer(
        toy_model(seed=99),
        train,
        val,
        config(tmp_path / "part", **cfg),
        resume_from=tmp_path / "part" / "last.pt",
    )
    resumed.fit()
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    for name, value in a["training_state"]["raw_state_dict"].items():
        assert torch.equal(value, b["training_state"]["raw_state_dict"][name]), name
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    monkeypatch.undo()
    # another teacher on resume is refused: it decides the loss
    save_model(_teacher(seed=6), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="teacher"):
        Trainer(
            toy_model(),
            train,
            val,
            config(None, epochs=3, teacher=str(tmp_path / "other.pt")),
            resume_from=tmp_path / "full" / "last.pt",
        )


def test_cached_labels_are_recomputed_for_another_teacher_or_other_structures(structures, tmp_path):
    path = tmp_path / "labels.pt"
    first, second = _teacher(seed=5), _teacher(seed=6)
    a = cached_teacher_predictions(first, structures[:4], path, progress=False)
    assert path.is_file()
    b = cached_teacher_predictions(second, structures[:4], path, progress=False)
    expected = teacher_predictions(second, structures[:4], progress=False)
    assert not torch.equal(a["forces"], b["forces"])
    torch.testing.assert_close(b["forces"], expected["forces"], rtol=0, atol=0)
    moved = [copy.copy(d) for d in structures[:4]]
    moved[2].pos = moved[2].pos + 0.01
    c = cached_teacher_predictions(second, moved, path, progress=False)
    torch.testing.assert_close(
        c["forces"], teacher_predictions(second, moved, progress=False)["forces"]
    )
    assert not torch.equal(c["forces"], b["forces"])
    with pytest.raises(ValueError, match="structure 1 have"):
        with_teacher_labels([structures[0], structures[6]], a | {"num_atoms": a["num_atoms"][:2]})


def _fclmace(**kwargs):
    from pyg_fcl_models import FCLMACE

    small = dict(
        num_channels=8,
        l_max=1,
        hidden_l_max=0,
        correlation=2,
        num_interactions=2,
        radial_mlp=(16, 16),
        cutoff_embedding_hidden=8,
        readout_hidden=8,
    )
    return FCLMACE(elements=(1, 6, 7, 8), **small, **kwargs)


def _schnet(**kwargs):
    return FlexibleSchNet(
        elements=(1, 6, 7, 8),
        hidden_channels=16,
        num_filters=16,
        num_interactions=2,
        num_gaussians=12,
        **kwargs,
    )


@pytest.mark.parametrize("build", [_fclmace, _schnet], ids=["FCLMACE", "FlexibleSchNet"])
def test_a_copy_of_the_teacher_learns_its_short_cutoffs(build, structures, tmp_path):
    """A fixed-cutoff teacher, its copy as FCL student: equal at r_max at the start, closer to
    the teacher at a short cutoff after a few distillation steps, still close at r_max."""
    torch.manual_seed(2)
    teacher = build(r_max=4.5).eval()
    train, val = structures[:8], structures[8:]
    reference = _labelled(teacher, val)
    student = copy.deepcopy(teacher).train()
    student.r_min = 2.5  # the range it is about to be trained for
    start = evaluate(student, reference, 4.5)["overall"]
    assert start["forces_rmse"] < 1e-5 and start["energy_rmse"] < 1e-6
    short = evaluate(student, reference, 3.0)["overall"]["forces_rmse"]
    cfg = config(
        None, epochs=4, lr=2e-3, r_min=2.5, p_rmax=0.25, ema_decay=None, fit_normalization=False
    )
    Trainer(student, train, val, cfg, teacher=teacher).fit()
    after = evaluate(student, reference, 3.0)["overall"]["forces_rmse"]
    at_rmax = evaluate(student, reference, 4.5)["overall"]["forces_rmse"]
    # closer at 3 Å (a random teacher's pairs beyond 3 Å carry force that no 3 Å model sees,
    # so only part of the deviation can go), while r_max stays close to the teacher
    assert after < 0.99 * short, (short, after)
    assert at_rmax < 0.5 * after, (at_rmax, after)


def test_a_structure_the_teacher_cannot_run_is_named(structures):
    teacher = toy_model(seed=5, r_min=None, elements=(6, 8)).eval()  # CO2 only, no N or H
    with pytest.raises(ValueError, match=r"04_ammonia.xyz:\d+.*does not know"):
        teacher_predictions(teacher, structures, batch_size=4, progress=False)
