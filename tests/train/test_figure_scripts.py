"""examples/fig3_cutoff_scan.py and examples/fig4_diatomic.py run on tiny budgets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from train_helpers import toy_model

from pyg_fcl import save_model

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fig4_curves_vanish_beyond_each_cutoff(tmp_path):
    path = tmp_path / "toy.pt"
    save_model(toy_model(r_max=5.0, r_min=2.5, elements=(6, 8)), path)
    out = tmp_path / "fig4.png"
    table = _load("fig4_diatomic").main(
        ["--model", str(path), "--cutoffs", "3", "4", "5", "--points", "120", "--out", str(out)]
    )
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text()) == table
    for row in table.values():
        assert row["max_abs_energy_beyond_rc_eV"] == 0.0
        assert row["max_abs_force_beyond_rc_eV_per_A"] == 0.0
        assert row["energy_at_0.95rc_eV"] != 0.0  # the pair still interacts inside r_c


def test_fig3_two_seeds_tiny(tmp_path):
    pytest.importorskip("pyg_fcl_models")
    out = tmp_path / "fig3"
    text = _load("fig3_cutoff_scan").main(
        [
            "--seeds", "0", "1", "--scl-cutoffs", "3.5", "4.5", "--out", str(out), "--",
            "--data-dir", str(ROOT / "data" / "mad_sample"), "--size", "tiny",
            "--subsets", "MC3D", "--max-structures", "8", "--max-test", "4", "--epochs", "1",
            "--max-steps", "1", "--r-min", "3", "--r-max", "4.5", "--no-progress",
            "--device", "cpu",
        ]
    )  # fmt: skip
    assert (out / "fig3_cutoff_scan.png").is_file()
    rows = [
        line for line in text.splitlines() if line.startswith("| 3.5") or line.startswith("| 4.5")
    ]
    assert len(rows) == 2 and all(row.rstrip().endswith("| 2 |") for row in rows)
    table = json.loads((out / "fig3_table.json").read_text())
    assert (
        len(table["FCL"]["3.5"]["forces_rmse"]) == 2
        and len(table["SCL"]["4.5"]["forces_rmse"]) == 2
    )


def _fake_results(directory: Path, seed: int, results: dict) -> None:
    run = directory / f"seed_{seed}"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"results": results}))


def _res(forces: float, energy: float, pairs: float) -> dict:
    return {"overall": {"forces_rmse": forces, "energy_rmse": energy, "pairs_per_atom": pairs}}


def test_fig3_plot_only_two_fcl_variants_and_ratio_to_scl(tmp_path):
    main_dir, other = tmp_path / "main", tmp_path / "uniform"
    for seed, (f_fcl, f_scl, f_uni) in enumerate([(0.11, 0.10, 0.12), (0.13, 0.10, 0.14)]):
        _fake_results(
            main_dir,
            seed,
            {"FCL": {"4": _res(f_fcl, 0.02, 27.0)}, "SCL 4": {"4": _res(f_scl, 0.01, 27.0)}},
        )
        _fake_results(other, seed, {"FCL": {"4": _res(f_uni, 0.03, 27.0)}})
    text = _load("fig3_cutoff_scan").main(
        ["--plot-only", "--out", str(main_dir), "--label", "FCL mix", "--add-fcl", f"U={other}"]
    )
    header, _, row = text.splitlines()
    assert header.split(" | ")[2:5] == [
        "FCL mix force RMSE (meV/Å)",
        "U force RMSE (meV/Å)",
        "SCL force RMSE (meV/Å)",
    ]
    cells = [c.strip() for c in row.strip("| ").split("|")]
    # mean ± sample std over the two seeds, in meV/Å; then +20 % and +30 % against SCL
    assert cells[:5] == ["4", "27.0", "120 ± 14", "130 ± 14", "100 ± 0"]
    assert cells[5:7] == ["+20.0 %", "+30.0 %"]
    assert cells[-1] == "2"
    assert (main_dir / "fig3_cutoff_scan.png").is_file()


def test_fig3_rejects_malformed_add_fcl(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _load("fig3_cutoff_scan").main(["--plot-only", "--out", str(tmp_path), "--add-fcl", "x"])
    assert "expected LABEL=DIR" in capsys.readouterr().err


def test_fig5_label_free_against_a_teacher_and_dft(tmp_path):
    """--teacher: fronts scored against the teacher's predictions and, for the same settings,
    against DFT; --baseline: the teacher's own global scan, which at its cutoff deviates 0."""
    from pyg_fcl import evaluate, load_model, read_structures

    elements = tuple(range(1, 87))
    teacher, student = tmp_path / "teacher.pt", tmp_path / "student.pt"
    save_model(toy_model(seed=4, r_max=4.5, r_min=None, elements=elements), teacher)
    save_model(toy_model(seed=5, r_max=4.5, r_min=3.0, elements=elements), student)
    out = tmp_path / "fig5"
    args = ["--model", str(student), "--teacher", str(teacher), "--baseline", str(teacher)]
    args += ["--subsets", "MC3D", "--max-frames", "2", "--epochs", "1"]
    args += ["--lambdas", "1e-3", "1e-5", "--scan", "3.5", "4.5", "--out", str(out)]
    assert _load("fig5_pareto").main(args) == 0
    assert (out / "fig5_pareto.png").is_file() and (out / "teacher_labels.pt").is_file()
    row = json.loads((out / "fig5.json").read_text())["MC3D"]
    assert [p["lambda"] for p in row["points"]] == [1e-3, 1e-5]
    assert all(set(p["cutoffs"]) and "force_rmse_vs_dft" in p for p in row["points"])
    at_rmax = {s["cutoff"]: s for s in row["baseline"]}[4.5]
    assert at_rmax["forces_rmse"] < 1e-6  # the teacher against its own labels
    # the DFT column is the model scored on the file's own labels at the same cutoff
    dft = [d for d in read_structures(ROOT / "data/mad_sample/test.xyz")
           if d.subset == "MC3D"][1::2][:2]  # fmt: skip
    want = evaluate(load_model(student), dft, 3.5)["overall"]["forces_rmse"]
    got = {s["cutoff"]: s for s in row["global_scan"]}[3.5]["forces_rmse_vs_dft"]
    assert got == pytest.approx(want, rel=1e-6)
    assert at_rmax["forces_rmse_vs_dft"] > 0.1  # the toy teacher is far from DFT
    # run again into the same folder with more frames allowed: the front is read back, not
    # optimized again, and scored on the frames it was evaluated on
    (out / "fig5.json").unlink()
    assert _load("fig5_pareto").main([*args, "--max-frames", "40"]) == 0
    again = json.loads((out / "fig5.json").read_text())
    assert again["MC3D"]["points"] == row["points"]
    assert again["MC3D"]["global_scan"] == row["global_scan"]
    assert again["settings"]["per_subset"]["MC3D"]["epochs"] == 1
