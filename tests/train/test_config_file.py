"""``pyg-fcl train --config run.yaml``: keys are the options, flags override the file, unknown
keys and bad values are named, and the saved resolved config repeats the run exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from ase.io import read, write
from train_helpers import MOLCRYS

from pyg_fcl.cli import build_parser, main


@pytest.fixture()
def run_yaml(tmp_path):
    data = tmp_path / "co2.xyz"
    write(data, read(MOLCRYS / "07_co2.xyz", index="::15"), format="extxyz")
    config = {
        "train": [str(data)],
        "val_fraction": 0.25,
        "model_factory": "fcl_toy:ToyPairModel",
        "model_kwargs": {"hidden": 8},
        "r_min": 3.0,
        "r_max": 4.5,
        "epochs": 2,
        "max_steps": 3,
        "batch_size": 4,
        "val_cutoffs": [4.5, 3.5],
        "fit_normalization": "yes",
        "seed": 5,
        "device": "cpu",
        "no_progress": True,
        "out": str(tmp_path / "run"),
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def _parse(*argv):
    return build_parser().parse_args(["train", *argv])


def test_file_sets_options_and_flags_override(run_yaml):
    path, config = run_yaml
    args = _parse("--config", str(path))
    assert args.train == config["train"] and args.epochs == 2 and args.r_min == 3.0
    assert args.model_kwargs == '{"hidden": 8}' and args.no_progress is True
    assert args.val_cutoffs == [4.5, 3.5] and args.batch_size == 4
    assert args.lr == 5e-3  # not in the file: the option's default
    args = _parse("--epochs", "7", f"--config={path}", "--r-min", "2.5")
    assert (args.epochs, args.r_min, args.max_steps) == (7, 2.5, 3)
    # the parser is unchanged afterwards: without --config, --train/--out are required again
    with pytest.raises(SystemExit):
        _parse("--epochs", "1")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("batchsize", 4, "unknown key(s) ['batchsize']"),
        ("epochs", "ten", "key 'epochs': invalid value 'ten'"),
        ("model_kwargs", "[1]", "key 'model_kwargs': expected a mapping"),
        ("no_progress", "maybe", "key 'no_progress': expected true or false"),
        ("fit_normalization", "sometimes", "'sometimes' is not one of"),
        ("r_min", [1.0, 2.0], "key 'r_min': expected one value"),
    ],
)
def test_bad_keys_and_values_are_named(run_yaml, capsys, key, value, message):
    path, config = run_yaml
    path.write_text(yaml.safe_dump({**config, key: value}))
    with pytest.raises(SystemExit) as exc:
        _parse("--config", str(path))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_yaml_yes_no_and_missing_file(run_yaml, capsys):
    path, config = run_yaml
    path.write_text(
        yaml.safe_dump(config).replace("fit_normalization: 'yes'", "fit_normalization: no")
    )
    assert _parse("--config", str(path)).fit_normalization == "no"
    with pytest.raises(SystemExit):
        _parse("--config", str(path.with_name("absent.yaml")))
    assert "absent.yaml' does not exist" in capsys.readouterr().err


def test_resolved_config_round_trip_repeats_the_run(run_yaml, tmp_path):
    path, config = run_yaml
    torch.manual_seed(0)  # the model's initial weights (the CLI seeds only the Trainer)
    assert main(["train", "--config", str(path), "--lr", "0.003"]) == 0
    saved_path = tmp_path / "run" / "config.yaml"
    saved = yaml.safe_load(saved_path.read_text())
    assert saved["lr"] == 0.003 and saved["model_kwargs"] == {"hidden": 8}
    assert saved["fit_normalization"] == "yes" and saved["train"] == config["train"]
    # parsing the saved file gives the same options as the original command line
    first = vars(_parse("--config", str(path), "--lr", "0.003"))
    again = vars(_parse("--config", str(saved_path)))
    for key in ("config", "run"):
        first.pop(key), again.pop(key)
    assert first == again
    # and running it again (elsewhere) trains the same weights
    torch.manual_seed(0)
    assert main(["train", "--config", str(saved_path), "--out", str(tmp_path / "again")]) == 0
    a = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["training_state"]
    b = torch.load(tmp_path / "again" / "last.pt", weights_only=True)["training_state"]
    assert a["global_step"] == b["global_step"] == 3
    for name, value in a["raw_state_dict"].items():
        assert torch.equal(value, b["raw_state_dict"][name]), name


def test_shipped_example_config_and_sbatch_script():
    """examples/slurm: the YAML parses with every key an option, the sbatch script is valid bash."""
    folder = Path(__file__).resolve().parents[2] / "examples" / "slurm"
    args = _parse("--config", str(folder / "train_fcl.yaml"))
    assert args.r_min == 3.5 and args.logger == ["csv", "tensorboard"]
    assert args.model_kwargs == '{"num_channels": 16, "l_max": 1, "correlation": 2}'
    script = folder / "train_fcl.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "examples/slurm/train_fcl.yaml" in script.read_text()
