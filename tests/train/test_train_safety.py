"""``pyg-fcl train`` never loses work: an existing run is not overwritten, options are checked
before anything runs, SIGINT saves ``last.pt`` and prints the resume command, ``--resume`` needs
no model options, and ``--seed`` makes two runs bit-identical (issue 15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pytest
import torch
from train_helpers import MOLCRYS

from pyg_fcl.checkpoint import read_checkpoint
from pyg_fcl.cli import main

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> str:
    """Eight CO2 crystal frames (12 atoms each)."""
    frames = [a for a in ase.io.read(MOLCRYS / "07_co2.xyz", ":") if len(a) > 4][::5][:8]
    path = tmp_path_factory.mktemp("data") / "co2.xyz"
    ase.io.write(path, frames, format="extxyz")
    return str(path)


def _args(train_file: str, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--train",
        train_file,
        "--val-fraction",
        "0.25",
        "--model-factory",
        "fcl_toy:ToyPairModel",
        "--model-kwargs",
        '{"hidden": 8}',
        "--r-min",
        "3",
        "--r-max",
        "4.5",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
        *extra,
    ]


def _weights(path: Path) -> dict:
    return read_checkpoint(path)["training_state"]["raw_state_dict"]


def test_same_seed_bit_identical_other_seed_differs(train_file, tmp_path):
    torch.manual_seed(123)  # the command seeds itself: outside state must not matter
    assert main(_args(train_file, tmp_path / "a", "--seed", "5")) == 0
    torch.manual_seed(456)
    assert main(_args(train_file, tmp_path / "b", "--seed", "5")) == 0
    assert main(_args(train_file, tmp_path / "c", "--seed", "6")) == 0
    a, b, c = (_weights(tmp_path / x / "last.pt") for x in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_existing_run_refused_unless_resume_or_overwrite(train_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(train_file, out, "--max-steps", "2")) == 0
    before = (out / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(_args(train_file, out)) == 1
    err = capsys.readouterr().err
    assert "already holds a training run" in err and "--resume" in err and "--overwrite" in err
    assert (out / "last.pt").read_bytes() == before
    assert main(_args(train_file, out, "--overwrite", "--max-steps", "1")) == 0
    assert read_checkpoint(out / "last.pt")["training_state"]["global_step"] == 1


def test_resume_needs_no_model_options(train_file, tmp_path):
    out = tmp_path / "run"
    assert main(_args(train_file, out, "--max-steps", "2", "--seed", "4")) == 0
    full = tmp_path / "full"
    assert main(_args(train_file, full, "--seed", "4")) == 0
    # only data, checkpoint and output: model, cutoffs and seed come from last.pt
    resumed = [
        "train",
        "--train",
        train_file,
        "--val-fraction",
        "0.25",
        "--resume",
        str(out / "last.pt"),
        "--out",
        str(out),
        "--max-steps",  # the saved run stopped at 2 steps; run it to the end now
        "100",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(resumed) == 0
    a, b = _weights(out / "last.pt"), _weights(full / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--val-cutoffs", "9"], r"--val-cutoffs \[9.0\] lie outside the trained range"),
        (["--val-cutoffs", "2"], r"--val-cutoffs \[2.0\] lie outside"),
        (["--model-kwargs", "{hidden: 8}"], "--model-kwargs is not valid JSON"),
        (["--model-kwargs", '{"hiden": 8}'], "do not fit fcl_toy:ToyPairModel"),
        (["--init-from", "missing.pt"], "--init-from: no such checkpoint"),
    ],
)
def test_bad_options_fail_before_training(train_file, tmp_path, capsys, extra, message):
    import re

    start = time.perf_counter()
    argv = _args(train_file, tmp_path / "run", *extra)
    if "--model-kwargs" in extra:  # replace the default model kwargs
        i = argv.index("--model-kwargs")
        del argv[i : i + 2]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "last.pt").exists()
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("option", ["--r-max 0", "--r-min -1", "--lr nan", "--epochs 0"])
def test_bad_numbers_are_usage_errors(train_file, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exc:
        main([*_args(train_file, tmp_path / "run"), *option.split()])
    assert exc.value.code == 2
    assert option.split()[0] in capsys.readouterr().err


def test_unwritable_out_is_reported_first(train_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(_args(train_file, blocker / "run")) == 1
    assert "not writable" in capsys.readouterr().err


def test_init_from_other_architecture(train_file, tmp_path, capsys):
    assert main(_args(train_file, tmp_path / "small", "--max-steps", "1")) == 0
    argv = _args(train_file, tmp_path / "big", "--init-from", str(tmp_path / "small" / "last.pt"))
    argv[argv.index('{"hidden": 8}')] = '{"hidden": 16}'
    capsys.readouterr()
    assert main(argv) == 1
    assert "weights do not fit this model" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_last_and_prints_resume_command(train_file, tmp_path, sig):
    out = tmp_path / "run"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    argv = _args(train_file, out, "--checkpoint-every", "1")
    argv[argv.index("--epochs") + 1] = "100000"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyg_fcl", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "last.pt").exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert f"stopped by {sig.name}" in err and "--resume" in err, err
    command = err.strip().splitlines()[-1].split()
    assert command[:2] == ["python", "-m"] or command[0] == "pyg-fcl"
    step = read_checkpoint(out / "last.pt")["training_state"]["global_step"]
    # the printed command continues the run
    resume = command[command.index("train") :] + ["--max-steps", str(step + 1), "--no-progress"]
    assert main(resume) == 0
    assert read_checkpoint(out / "last.pt")["training_state"]["global_step"] == step + 1


def test_trainer_checks_val_cutoffs_and_out_dir_at_construction(tmp_path):
    from train_helpers import tiny_structures, toy_model

    from pyg_fcl.train import TrainConfig, Trainer

    data = tiny_structures(2)
    cfg = dict(epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"val_cutoffs \[2.0\] lie outside .*\[3, 4.5\]"):
        Trainer(toy_model(), data[:3], data[3:], TrainConfig(val_cutoffs=[2.0], **cfg))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="not writable"):
        Trainer(toy_model(), data[:3], data[3:], TrainConfig(out_dir=str(blocker / "x"), **cfg))


def test_scl_below_the_model_r_max_trains(tmp_path):
    """Pretraining at 6 Å a model of r_max 7 (the paper's recipe): the fixed cutoff becomes the
    start of the model's trained range instead of being refused as below r_min."""
    from train_helpers import tiny_structures, toy_model

    from pyg_fcl.train import TrainConfig, Trainer

    data = tiny_structures(2)
    model = toy_model(r_min=None, r_max=4.5)
    trainer = Trainer(
        model, data[:3], data[3:], TrainConfig(fixed_cutoff=4.0, epochs=1, progress=False)
    )
    history = trainer.fit()
    assert model.r_min == 4.0 and "4" in history[-1]["val"]
