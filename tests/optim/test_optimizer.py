"""CutoffOptimizer on a tiny FCL model: gradients, descent, hard pruning, transfer, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list
from fcl_toy import ToyPairModel

from pyg_fcl.checkpoint import save_model
from pyg_fcl.cli import main
from pyg_fcl.cost import DifferentiableCostModel
from pyg_fcl.data import atoms_to_data, load_cutoffs, read_structures, save_cutoffs
from pyg_fcl.evaluate import evaluate
from pyg_fcl.optim import CutoffOptimizer, ParetoFront, evaluate_cutoffs

XYZ = Path(__file__).resolve().parents[2] / "data" / "molcrys_x23" / "07_co2.xyz"
FRAMES = "70:74"  # four 12-atom periodic CO2 crystal frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ToyPairModel(r_max=5.0, r_min=2.5, elements=(6, 8), hidden=16).double().eval()


@pytest.fixture(scope="module")
def structures():
    return read_structures(XYZ, index=FRAMES, dtype=torch.float64)


def test_objective_gradient_equals_finite_differences(model, structures):
    opt = CutoffOptimizer(model, structures, per="element", init=4.0)
    param = opt.parametrization()
    with torch.no_grad():
        param.theta.copy_(torch.tensor([0.3, -0.2]))
    obj, _, _ = opt.full_objective(param, lam=1e-2)
    (grad,) = torch.autograd.grad(obj, param.theta)
    h = 1e-6
    for k in range(2):
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                param.theta[k] += sign * h
            values.append(float(opt.full_objective(param, lam=1e-2)[0].detach()))
            with torch.no_grad():
                param.theta[k] -= sign * h
        assert float(grad[k]) == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-4)
    assert all(p.requires_grad for p in model.parameters())  # restored after the objective
    assert not model.training and not any(m.training for m in model.modules())


def test_optimizer_reduces_the_objective(model, structures):
    lam = 3e-3
    opt = CutoffOptimizer(model, structures, per="element", epochs=8, batch_size=2, lr=0.2)
    start = float(opt.full_objective(opt.parametrization(), lam)[0])
    result = opt.optimize(lam)
    param = opt.parametrization()
    with torch.no_grad():
        param.theta.copy_(torch.logit(torch.tensor(result.values).sub(2.5).div(2.5)))
    end = float(opt.full_objective(param, lam)[0])
    assert end < start
    assert len(result.history) == 8 and result.spec.kind == "element"
    assert all(2.5 <= v <= 5.0 for v in result.spec.elements.values())


def test_label_free_error_is_zero_at_r_max(model, structures):
    unlabelled = [s.clone() for s in structures]
    for s in unlabelled:
        s.forces = torch.zeros_like(s.forces)  # labels must not matter
    opt = CutoffOptimizer(model, unlabelled, per="global", reference="model")
    param = opt.parametrization()
    with torch.no_grad():
        param.theta.fill_(60.0)  # sigmoid = 1 in float64: every cutoff exactly r_max
    _, err, _ = opt.full_objective(param, lam=0.0)
    assert float(err) == pytest.approx(0.0, abs=1e-12)


def _ase_pairs(structures, spec, r_max):
    edges = atoms = 0
    for s in structures:
        a = ase.io.read(XYZ, index=int(s.frame))
        i, j, d = neighbor_list("ijd", a, r_max)
        rc = spec.per_atom(torch.tensor(a.numbers), dtype=torch.float64).numpy()
        edges += int((d < 0.5 * (rc[i] + rc[j])).sum())
        atoms += len(a)
    return edges / atoms


def test_pareto_hard_evaluation_equals_evaluate_and_brute_force(model, structures, tmp_path):
    opt = CutoffOptimizer(model, structures, per="element", epochs=2, batch_size=4, lr=0.3)
    front = opt.pareto([1e-2, 1e-4], global_cutoffs=[3.5, 5.0])
    assert front.rmax == evaluate(model, structures, None, compute_stress=False)["overall"]
    assert front.global_scan[1]["forces_rmse"] == pytest.approx(front.rmax["forces_rmse"])
    for point in front.points:
        direct = evaluate(model, structures, point.spec, compute_stress=False)["overall"]
        assert point.evaluation == direct
        assert point.pairs_per_atom == pytest.approx(_ase_pairs(structures, point.spec, 5.0))
    path = tmp_path / "front.json"
    front.save(path)
    raw = json.loads(path.read_text())
    keys = {"lambda", "cutoffs", "pairs_per_atom", "pairs_per_atom_rmax"}
    assert keys | {"force_rmse", "force_rmse_rmax"} <= set(raw["points"][0])
    loaded = ParetoFront.load(path)
    assert [p.spec for p in loaded.points] == [p.spec for p in front.points]
    assert loaded.points[1].force_rmse == front.points[1].force_rmse
    save_cutoffs(front.points[0].spec, tmp_path / "c.json")
    assert load_cutoffs(tmp_path / "c.json") == front.points[0].spec
    assert "lambda 1e-02" in front.table()


def test_per_element_result_transfers_to_supercell(model, structures):
    opt = CutoffOptimizer(model, structures[:2], per="element", epochs=1, batch_size=2)
    spec = opt.optimize(1e-2).spec
    atoms = ase.io.read(XYZ, index=70)
    small = [atoms_to_data(atoms, dtype=torch.float64)]
    big = atoms_to_data(atoms.repeat((2, 1, 2)), dtype=torch.float64)
    big.energy, big.forces = 4 * small[0].energy, small[0].forces.repeat(4, 1)  # tiled labels
    big.has_energy = big.has_forces = torch.tensor([True])
    a, b = evaluate_cutoffs(model, small, spec), evaluate_cutoffs(model, [big], spec)
    assert b["pairs_per_atom"] == pytest.approx(a["pairs_per_atom"], rel=1e-12)
    assert b["forces_rmse"] == pytest.approx(a["forces_rmse"], rel=1e-9)
    assert b["energy_mae"] == pytest.approx(a["energy_mae"], rel=1e-9)


def test_per_atom_optimization_on_frames_of_one_system(model, structures):
    cost = DifferentiableCostModel(5.0, kind="rc3")
    opt = CutoffOptimizer(model, structures, per="atom", cost=cost, epochs=2, batch_size=2)
    result = opt.optimize(1e-3)
    assert result.spec.kind == "atom" and len(result.spec.atoms) == 12
    assert list(result.spec.numbers) == structures[0].z.tolist()
    assert evaluate_cutoffs(model, structures, result.spec)["pairs_per_atom"] > 0


def test_optimize_cli(model, tmp_path):
    ckpt = tmp_path / "toy.pt"
    save_model(model, ckpt)
    out, cut = tmp_path / "front.json", tmp_path / "cutoffs.json"
    args = ["optimize", "--model", str(ckpt), "--data", str(XYZ), "--index", "70:72"]
    args += ["--eval-index", "72:74", "--lambdas", "1e-2", "--epochs", "1", "--scan", "4", "5"]
    args += ["--out", str(out), "--cutoffs-out", str(cut)]
    assert main(args) == 0
    front = json.loads(out.read_text())
    assert len(front["points"]) == 1 and len(front["global_scan"]) == 2
    assert front["points"][0]["cutoffs"] == load_cutoffs(cut).to_dict()
    bad = ["optimize", "--model", str(ckpt), "--data", str(tmp_path / "nope.xyz")]
    assert main([*bad, "--lambdas", "1e-2"]) == 1
    assert np.isfinite(front["points"][0]["force_rmse"])


def test_pareto_fills_elements_missing_from_the_targets_with_r_max(structures):
    torch.manual_seed(0)
    model = ToyPairModel(r_max=5.0, r_min=2.5, elements=(1, 6, 7, 8)).double().eval()
    other = XYZ.parent / "08_cyanamide.xyz"  # C, H, N: H and N are not in the CO2 targets
    held_out = read_structures(other, index="20:21", dtype=torch.float64)
    opt = CutoffOptimizer(model, structures[:2], per="element", epochs=1, batch_size=2)
    point = opt.pareto([1e-2], held_out).points[0]
    assert point.spec.elements[1] == point.spec.elements[7] == 5.0
    assert point.spec.meta["filled"] == [1, 7]
    assert point.spec.elements[6] < 5.0
    assert (
        point.evaluation == evaluate(model, held_out, point.spec, compute_stress=False)["overall"]
    )


def test_set_values_round_trip_and_warm_started_sweep_is_never_worse(model, structures):
    opt = CutoffOptimizer(model, structures, per="element", epochs=2, batch_size=2)
    param = opt.parametrization()
    param.set_values([3.1, 4.7])
    assert param.values().tolist() == pytest.approx([3.1, 4.7])
    first = opt.optimize(3e-2)
    second = opt.optimize(1e-3, start=first.values)
    assert not first.spec.meta["warm_start"] and second.spec.meta["warm_start"]

    def objective(values, lam):
        p = opt.parametrization()
        p.set_values(values)
        return float(opt.full_objective(p, lam)[0].detach())

    assert objective(second.values, 1e-3) <= objective(first.values, 1e-3) + 1e-12
    front = opt.pareto([3e-2, 1e-3])
    assert front.settings["warm_start"] and not front.points[0].spec.meta["warm_start"]


def test_front_table_with_zero_error_at_r_max():
    """Label-free against the model's own r_max predictions the r_max error is exactly 0: the
    relative column says n/a instead of dividing by zero."""
    from pyg_fcl.optim.pareto import ParetoFront

    front = ParetoFront(
        points=[],
        rmax={"pairs_per_atom": 40.0, "forces_rmse": 0.0},
        global_scan=[{"cutoff": 4.0, "pairs_per_atom": 20.0, "forces_rmse": 0.3}],
    )
    lines = front.table().splitlines()
    assert lines[1].split()[-1] == "n/a" and "50.0%" in lines[2] and lines[2].endswith("n/a")
