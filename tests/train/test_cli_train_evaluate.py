"""``pyg-fcl train`` and ``pyg-fcl evaluate`` end to end on tiny data with the toy model."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import MOLCRYS

from pyg_fcl import load_model, read_structures
from pyg_fcl.cli import main
from pyg_fcl.evaluate import evaluate


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"pyg-fcl {command}" in out


def test_train_then_evaluate(tmp_path, capsys):
    data = str(MOLCRYS / "07_co2.xyz")
    torch.manual_seed(0)
    args = [
        "train",
        "--train",
        data,
        "--val-fraction",
        "0.5",
        "--energy-key",
        "energy",
        "--model-factory",
        "fcl_toy:ToyPairModel",
        "--model-kwargs",
        '{"hidden": 8}',
        "--r-min",
        "3",
        "--r-max",
        "4.5",
        "--epochs",
        "3",
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--val-cutoffs",
        "4.5",
        "3.5",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        "--device",
        "cpu",
    ]
    with pytest.MonkeyPatch.context() as mp:
        # a small slice of the file keeps this fast: read every 20th frame
        import pyg_fcl.train.data as tdata

        real = tdata.read_structures
        mp.setattr(tdata, "read_structures", lambda p, **kw: real(p, index="::20", **kw))
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "trained 3 steps (FCL)" in out and "val @ 3.5" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["history"][-1]["global_step"] == 3
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("epoch,")
    model = load_model(tmp_path / "run" / "best.pt")
    assert (model.r_min, model.r_max, model.hidden) == (3.0, 4.5, 8)

    test_file = str(MOLCRYS / "04_ammonia.xyz")
    ref = read_structures(test_file, index="::40")
    with pytest.raises(ValueError):  # the CO2-only model does not know N and H
        evaluate(model, ref, 4.0)
    out_json = tmp_path / "errors.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "run" / "best.pt"),
            "--data",
            data,
            "--cutoff",
            "4.0",
            "--json",
            str(out_json),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    got = json.loads(out_json.read_text())
    want = evaluate(model, read_structures(data), 4.0)
    assert got["overall"]["forces_rmse"] == pytest.approx(want["overall"]["forces_rmse"])
    assert got["overall"]["pairs_per_atom"] == pytest.approx(want["overall"]["pairs_per_atom"])
    # a clear error for a cutoff above the model's r_max
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "run" / "best.pt"),
                "--data",
                data,
                "--cutoff",
                "9",
            ]
        )
        == 1
    )
    assert "r_max" in capsys.readouterr().err


def test_train_lr_scale_freezes_a_prefix_and_is_saved(tmp_path, monkeypatch):
    """``--lr-scale '{"embed.": 0}'`` keeps the embedding at its initial values (EMA included);
    the option is in the run's config.yaml, so ``--config`` repeats it."""
    import yaml

    import pyg_fcl.train.data as tdata

    real = tdata.read_structures
    monkeypatch.setattr(tdata, "read_structures", lambda p, **kw: real(p, index="::20", **kw))
    torch.manual_seed(0)
    args = ["train", "--train", str(MOLCRYS / "07_co2.xyz"), "--val-fraction", "0.5"]
    args += ["--model-factory", "fcl_toy:ToyPairModel", "--model-kwargs", '{"hidden": 8}']
    args += ["--r-min", "3", "--r-max", "4.5", "--epochs", "1", "--max-steps", "2"]
    args += ["--lr-scale", '{"embed.": 0}', "--no-progress", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    model = load_model(tmp_path / "run" / "last.pt")
    torch.manual_seed(0)
    from fcl_toy import ToyPairModel

    fresh = ToyPairModel(r_max=4.5, r_min=3.0, elements=model.elements, hidden=8)
    assert torch.equal(model.embed.weight, fresh.embed.weight)
    assert not torch.equal(model.mlp[0].weight, fresh.mlp[0].weight)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["lr_scale"] == {"embed.": 0}
