"""One training loop for both sides of ``accuracy_vs_mace.py``, and the mace-torch entry point.

The loop and the test errors here use only ``torch``, and the learning-rate schedule and the EMA
are the Trainer's own (``pyg_fcl/train/schedule.py`` and ``ema.py``, loaded from their files,
which need only torch and math), so the same code trains FCL-MACE (imported by
``accuracy_vs_mace.py`` in the project's environment) and mace-torch (this file run as a script
by the python of ``benchmarks/.venv-mace``, which has mace-torch and its pinned e3nn 0.4.4 but
not pyg-fcl). It reproduces ``pyg_fcl.train.Trainer``
step for step (``tests/test_accuracy_vs_mace.py`` checks that the weights agree):

* AdamW(lr, weight_decay); per step: forward, loss, zero_grad, backward, clip the gradient norm,
  optimizer step, EMA update, LR schedule step;
* the LR of step ``k`` is ``lr * f(k)``, ``f`` the Trainer's ``cosine`` (linear warm-up over
  ``warmup_steps``, then ``floor + (1 - floor) (1 + cos(pi progress)) / 2``);
* the EMA ``s <- d s + (1 - d) p`` with ``d = min(decay, (1 + n) / (10 + n))``;
* loss ``w_E mean(((E - E_ref) / N)^2) + w_F mean((F - F_ref)^2)`` over structures and force
  components (every frame has energy and forces here; no stress).

Script use (what ``accuracy_vs_mace.py`` runs; not meant to be called by hand)::

    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 benchmarks/.venv-mace/bin/python \\
        benchmarks/_mace_train_worker.py INPUT.pt OUTPUT.json
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn


class Prediction(NamedTuple):
    """Model output and labels of one batch (``G`` structures, ``N`` atoms)."""

    energy: Tensor  # [G] predicted total energies (eV)
    forces: Tensor  # [N, 3] predicted forces (eV/Å)
    num_atoms: Tensor  # [G]
    energy_ref: Tensor  # [G]
    forces_ref: Tensor  # [N, 3]


Predict = Callable[[Sequence[int], bool], Prediction]
"""``predict(indices, training)``: run the model on the structures ``indices`` of its data."""


@dataclass
class LoopSettings:
    """The optimisation settings shared by both models (the Trainer's names and defaults)."""

    lr: float = 5e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    schedule_steps: int = 1
    ema_decay: float = 0.99
    grad_clip: float | None = 10.0
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    log_every: int = 50


def _library_module(name: str):
    """``pyg_fcl/train/NAME.py`` loaded from its file, without importing the pyg_fcl package
    (not installed in mace-torch's environment; these two modules need only torch and math)."""
    path = Path(__file__).resolve().parents[1] / "pyg_fcl" / "train" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_pyg_fcl_train_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The Trainer's own LR schedule and EMA, so both models follow them by construction.
_schedule = _library_module("schedule")
ExponentialMovingAverage = _library_module("ema").ExponentialMovingAverage


def lr_factor(step: int, settings: LoopSettings) -> float:
    """The Trainer's ``cosine`` schedule factor of optimizer step ``step`` (0-based)."""
    return _schedule.lr_factor(
        step,
        scheduler="cosine",
        warmup_steps=settings.warmup_steps,
        min_lr_ratio=settings.min_lr_ratio,
        total_steps=settings.schedule_steps,
    )


def loss_of(pred: Prediction, settings: LoopSettings) -> Tensor:
    """``w_E * MSE(E / N) + w_F * MSE(F component)``."""
    dtype = pred.energy.dtype
    e = (pred.energy - pred.energy_ref.to(dtype)) / pred.num_atoms.to(dtype)
    f = pred.forces - pred.forces_ref.to(dtype)
    return settings.energy_weight * e.square().mean() + settings.forces_weight * f.square().mean()


def train(
    model: nn.Module,
    predict: Predict,
    batches: Sequence[Sequence[int]],
    settings: LoopSettings,
    log: Callable[[str], None] = print,
) -> dict:
    """Train ``model`` in place over ``batches`` (one optimizer step each); EMA weights copied in.

    Returns:
        dict: ``wall_s`` (training time), ``steps``, ``loss`` (mean of each ``log_every``
        window: ``[step, loss]``), ``final_lr``.
    """
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lr_factor(k, settings))
    ema = ExponentialMovingAverage(model, settings.ema_decay) if settings.ema_decay else None
    max_norm = settings.grad_clip if settings.grad_clip is not None else math.inf
    history, window = [], []
    start = time.perf_counter()
    model.train()
    for step, indices in enumerate(batches):
        loss = loss_of(predict(indices, True), settings)
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"non-finite loss at step {step} (structures {indices})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        if ema is not None:
            ema.update(model)
        scheduler.step()
        window.append(float(loss.detach()))
        if len(window) == settings.log_every or step == len(batches) - 1:
            history.append([step + 1, sum(window) / len(window)])
            elapsed = time.perf_counter() - start
            log(f"  step {step + 1}/{len(batches)}  loss {history[-1][1]:.4g}  {elapsed:.0f} s")
            window = []
    wall = time.perf_counter() - start
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    return {
        "wall_s": wall,
        "steps": len(batches),
        "loss": history,
        "final_lr": optimizer.param_groups[0]["lr"],
    }


def test_errors(predict: Predict, batches: Sequence[Sequence[int]]) -> dict:
    """Force RMSE/MAE over components (eV/Å) and energy-per-atom RMSE/MAE (eV/atom)."""
    f_sq = f_abs = e_sq = e_abs = 0.0
    n_f = n_e = 0
    for indices in batches:
        pred = predict(indices, False)
        df = (pred.forces.detach().double() - pred.forces_ref.double()).reshape(-1)
        de = (pred.energy.detach().double() - pred.energy_ref.double()) / pred.num_atoms.double()
        f_sq += float(df.square().sum())
        f_abs += float(df.abs().sum())
        e_sq += float(de.square().sum())
        e_abs += float(de.abs().sum())
        n_f += df.numel()
        n_e += de.numel()
    return {
        "forces_rmse": math.sqrt(f_sq / n_f),
        "forces_mae": f_abs / n_f,
        "energy_rmse_per_atom": math.sqrt(e_sq / n_e),
        "energy_mae_per_atom": e_abs / n_e,
        "num_structures": n_e,
        "num_force_components": n_f,
    }


# ---------------------------------------------------------------------------- mace-torch side
def collate(structures: Sequence[dict], indices: Sequence[int], elements: list[int], dtype):
    """mace-torch's input dict for the structures ``indices`` (pair lists prebuilt)."""
    index = torch.full((119,), -1, dtype=torch.long)
    index[elements] = torch.arange(len(elements))
    parts = [structures[k] for k in indices]
    sizes = [len(s["z"]) for s in parts]
    offsets = torch.tensor([0, *sizes]).cumsum(0)
    z = torch.cat([s["z"] for s in parts])
    return {
        "positions": torch.cat([s["pos"] for s in parts]).to(dtype),
        "node_attrs": nn.functional.one_hot(index[z], len(elements)).to(dtype),
        "edge_index": torch.cat([s["edge_index"] + o for s, o in zip(parts, offsets)], dim=1),
        "shifts": torch.cat([s["shifts"] for s in parts]).to(dtype),
        "unit_shifts": torch.cat([s["unit_shifts"] for s in parts]).to(dtype),
        "cell": torch.cat([s["cell"] for s in parts]).to(dtype),
        "batch": torch.repeat_interleave(torch.arange(len(parts)), torch.tensor(sizes)),
        "ptr": offsets,
        "energy": torch.tensor([s["energy"] for s in parts], dtype=torch.float64),
        "forces": torch.cat([s["forces"] for s in parts]),
        "num_atoms": torch.tensor(sizes),
    }


def build_mace(cfg: dict) -> nn.Module:
    """``ScaleShiftMACE`` with the shared hyperparameters and normalisation."""
    import numpy as np
    from e3nn import o3
    from mace import modules

    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    return modules.ScaleShiftMACE(
        r_max=cfg["cutoff"],
        num_bessel=cfg["num_bessel"],
        num_polynomial_cutoff=cfg["envelope_p"],
        max_ell=cfg["l_max"],
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=cfg["num_interactions"],
        num_elements=len(cfg["elements"]),
        hidden_irreps=o3.Irreps(cfg["hidden_irreps"]),
        MLP_irreps=o3.Irreps(f"{cfg['readout_hidden']}x0e"),
        atomic_energies=np.array(cfg["atomic_energies"]),
        avg_num_neighbors=cfg["avg_num_neighbors"],
        atomic_numbers=cfg["elements"],
        correlation=cfg["correlation"],
        gate=torch.nn.functional.silu,
        radial_MLP=cfg["radial_mlp"],
        atomic_inter_scale=cfg["scale"],
        atomic_inter_shift=cfg["shift"],
    )


def run_mace(blob: dict) -> dict:
    """Train and test mace-torch on the blob written by ``accuracy_vs_mace.py``."""
    import mace

    cfg = blob["model"]
    torch.set_num_threads(cfg["threads"])
    dtype = getattr(torch, cfg["dtype"])
    torch.set_default_dtype(dtype)
    torch.manual_seed(cfg["seed"])
    model = build_mace(cfg).to(dtype)
    elements = cfg["elements"]

    def predict_on(structures: list[dict]) -> Predict:
        def predict(indices: Sequence[int], training: bool) -> Prediction:
            d = collate(structures, indices, elements, dtype)
            out = model(d, training=training, compute_force=True)
            return Prediction(
                out["energy"], out["forces"], d["num_atoms"], d["energy"], d["forces"]
            )

        return predict

    settings = LoopSettings(**blob["loop"])
    result = {"mace_version": getattr(mace, "__version__", "?"), "torch": torch.__version__}
    result["num_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result["train"] = train(
        model, predict_on(blob["train"]), blob["batches"], settings, lambda s: print(s, flush=True)
    )
    start = time.perf_counter()
    result["test"] = test_errors(predict_on(blob["test"]), blob["test_batches"])
    result["test"]["wall_s"] = time.perf_counter() - start
    return result


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(f"usage: {Path(__file__).name} INPUT.pt OUTPUT.json (got {argv})")
    blob = torch.load(argv[0], weights_only=False)
    Path(argv[1]).write_text(json.dumps(run_mace(blob), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
