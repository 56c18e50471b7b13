"""benchmarks/accuracy_vs_mace.py on a tiny budget, FCL-MACE side only (no mace-torch in CI)."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import ase.io
import pytest
import torch

from pyg_fcl import read_structures
from pyg_fcl.train import TrainConfig, Trainer, fit_energy_normalization
from pyg_fcl_models import FCLMACE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _mace_train_worker as worker  # noqa: E402
import accuracy_vs_mace as bench  # noqa: E402

X23 = ROOT / "data" / "molcrys_x23"
TINY = ["--channels", "8", "--l-max", "1", "--correlation", "2", "--radial-mlp", "8"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Two small crystals, 20 frames each: 2 test frames and 16 training frames per file."""
    folder = tmp_path_factory.mktemp("x23")
    for name in ("04_ammonia", "07_co2"):
        frames = ase.io.read(X23 / f"{name}.xyz", index=":20")
        ase.io.write(folder / f"{name}.xyz", frames, format="extxyz")
    return folder


def test_quick_run_writes_table_and_json(data_dir: Path, tmp_path: Path) -> None:
    argv = ["--data", str(data_dir), "--hold-out", "--steps", "3", "--batch-size", "2"]
    argv += ["--train-stride", "5", "--cutoff", "4.0", "--skip-mace", "--out", str(tmp_path)]
    result = bench.main(argv + TINY)
    assert result["data"]["train_frames"] == 7 and result["data"]["test_frames"] == 4
    ours = result["ours"]
    assert ours["train"]["steps"] == 3 and len(ours["train"]["loss"]) == 1
    test = ours["test"]
    assert test["num_structures"] == 4
    for key in ("forces_rmse", "forces_mae", "energy_rmse_per_atom", "energy_mae_per_atom"):
        assert math.isfinite(test[key]) and test[key] > 0
    # the script's errors and pyg_fcl.evaluate agree (same model, frames and cutoff)
    check = ours["pyg_fcl_evaluate"]
    assert check["forces_rmse"] == pytest.approx(test["forces_rmse"], rel=1e-5)
    assert check["energy_rmse"] == pytest.approx(test["energy_rmse_per_atom"], rel=1e-4)
    assert "mace" not in result and "ratio" not in result
    saved = json.loads((tmp_path / "accuracy_vs_mace.json").read_text())
    assert saved["ours"]["test"]["forces_rmse"] == test["forces_rmse"]
    assert saved["model"]["hidden_irreps"] == "8x0e+8x1o"
    table = (tmp_path / "accuracy_vs_mace.md").read_text()
    assert "| FCL-MACE (pyg_fcl_models) |" in table and "| mace-torch |" not in table
    assert f"{test['forces_rmse']:.4f}" in table


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--cutoff", "-1"], "--cutoff must be > 0"),
        (["--eval-batch-size", "0"], "--eval-batch-size must be >= 1, got 0"),
        (["--ema-decay", "1.5"], r"--ema-decay must be in \[0, 1\)"),
        (["--hold-out", "99_unobtainium"], "--hold-out.*99_unobtainium"),
    ],
)
def test_bad_arguments_name_the_value(argv: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bench.main(argv + ["--skip-mace"])


def test_empty_data_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"--data {tmp_path}: no .xyz files"):
        bench.main(["--data", str(tmp_path), "--skip-mace"])


def test_shared_loop_reproduces_the_trainer(data_dir: Path) -> None:
    """The loop that trains both models gives the Trainer's EMA weights after 3 steps."""
    structures = read_structures(data_dir / "04_ammonia.xyz", dtype=torch.float64)[:8]
    torch.manual_seed(0)
    kwargs = dict(num_channels=8, l_max=1, correlation=2, radial_mlp=[8], avg_num_neighbors=8.0)
    model = FCLMACE(r_max=4.0, elements=[1, 7], **kwargs)
    twin = copy.deepcopy(model)
    cfg = TrainConfig(fixed_cutoff=4.0, epochs=2, max_steps=3, batch_size=3, progress=False)
    trainer = Trainer(model, structures, None, cfg)
    trainer.fit()
    fit_energy_normalization(structures, [1, 7]).apply(twin)
    loop = worker.LoopSettings(schedule_steps=trainer.schedule_steps, log_every=10)
    batches = bench.batch_plan(len(structures), 3, 0, 3)
    worker.train(twin, bench.fcl_predictor(twin, structures, 4.0), batches, loop, lambda s: None)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(
        loop.lr * worker.lr_factor(3, loop)
    )
    for name, p in twin.named_parameters():
        torch.testing.assert_close(p, trainer.ema.shadow[name], rtol=1e-4, atol=1e-6)


def test_batch_plan_continues_over_epochs() -> None:
    plan = bench.batch_plan(5, 2, 0, 7)
    assert [len(b) for b in plan] == [2, 2, 1, 2, 2, 1, 2]
    assert sorted(sum(plan[:3], [])) == list(range(5)) and plan[:3] != plan[3:6]


def test_mace_pairs_have_our_geometry(data_dir: Path) -> None:
    """mace-torch's vectors ``pos[i] - pos[j] + shifts`` are ours reversed, all inside the cutoff,
    and its collated batch offsets every structure's pairs."""
    structures = read_structures(data_dir / "07_co2.xyz", dtype=torch.float64)[:2]
    mace = bench.mace_structures(structures, 3.5, 4.0)
    for s in mace:
        j, i = s["edge_index"]
        vec = s["pos"][i] - s["pos"][j] + s["shifts"]
        torch.testing.assert_close(s["shifts"], s["unit_shifts"] @ s["cell"])
        assert bool((vec.norm(dim=1) < 3.5).all()) and bool((vec.norm(dim=1) > 0.5).all())
    model = FCLMACE(r_max=4.0, r_min=3.5, elements=[6, 8], num_channels=4, l_max=1, radial_mlp=[4])
    prepared = model.prepare(bench.CutoffAssigner(3.5, 3.5, 3.5)(structures[0], 0, 0))
    assert prepared.edge_index.shape[1] == mace[0]["edge_index"].shape[1]
    batch = worker.collate(mace, [0, 1], [6, 8], torch.float32)
    n0 = len(mace[0]["z"])
    assert batch["ptr"].tolist() == [0, n0, n0 + len(mace[1]["z"])]
    second = batch["edge_index"][:, mace[0]["edge_index"].shape[1] :]
    assert bool((second >= n0).all())
    assert batch["node_attrs"].sum(dim=1).eq(1).all() and batch["cell"].shape == (6, 3)


def test_lr_factor_is_the_trainers_cosine() -> None:
    loop = worker.LoopSettings(schedule_steps=10, warmup_steps=2, min_lr_ratio=0.1)
    assert worker.lr_factor(0, loop) == pytest.approx(0.5)
    assert worker.lr_factor(2, loop) == pytest.approx(1.0)
    assert worker.lr_factor(10, loop) == pytest.approx(0.1)
    assert worker.lr_factor(6, loop) == pytest.approx(0.1 + 0.9 * 0.5)
