"""Errors of cutoff-flexible SevenNet-0 models on the MAD sample's test split, per subset, at
global cutoffs: deviation from the teacher (SevenNet-0 at 5 Å) and error against the DFT labels.

For each ``--model`` (a pyg-fcl checkpoint, or ``zero-shot``: SevenNet-0 itself, truncated) and
each ``--cutoffs`` value this writes the force RMSE and energy-per-atom RMSE against the
teacher's predictions (computed once, cached in ``--labels``) and the force RMSE against the DFT
labels of ``data/mad_sample/test.xyz``. Energies against DFT are not compared: MAD's energies
have the isolated-atom energies subtracted, SevenNet-0's do not (a per-element offset).

    python models/pyg_fcl_models/pretrained/eval_distilled_mad.py --model zero-shot \\
        models/pyg_fcl_models/pretrained/sevennet0_distilled_mad.pt --out mad_eval.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch_geometric.data import Batch

from pyg_fcl import FlexibleRadiusGraph, load_model, read_structures
from pyg_fcl.nn.adapters import FlexibleSevenNet
from pyg_fcl.train.teacher import cached_teacher_predictions, with_teacher_labels

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", nargs="+", required=True, help="zero-shot | CKPT.pt ...")
    p.add_argument("--data", default=str(ROOT / "data" / "mad_sample" / "test.xyz"))
    p.add_argument("--cutoffs", type=float, nargs="+", default=[5.0, 4.5, 4.0, 3.5, 3.0])
    p.add_argument("--labels", default="mad_test_teacher_labels.pt", help="teacher labels cache")
    p.add_argument("--out", required=True, help="JSON results (updated model by model)")
    p.add_argument("--stride", type=int, default=1, help="every n-th test structure")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    test = read_structures(args.data)[:: args.stride]
    teacher = FlexibleSevenNet.from_pretrained("7net-0")
    start = time.time()
    labels = cached_teacher_predictions(teacher, test, args.labels, compute_stress=False)
    reference = with_teacher_labels(test, labels)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["teacher_labels_s"] = time.time() - start
    results["test"] = f"{Path(args.data).name}, every {args.stride}. structure: {len(test)}"
    results["teacher"] = teacher_vs_dft(test, reference)
    print("teacher (SevenNet-0 at 5 Å) vs DFT:", json.dumps(results["teacher"]["overall"]))
    for name in args.model:
        model = teacher if name == "zero-shot" else load_model(name)
        model.r_min = min(model.r_min, *args.cutoffs)  # evaluate below the trained range too
        rows = results.setdefault(name, {})
        for cutoff in args.cutoffs:
            start = time.time()
            row = {"time_s": None, **errors(model, test, reference, cutoff)}
            row["time_s"] = time.time() - start
            rows[f"{cutoff:g}"] = row
            out.write_text(json.dumps(results, indent=1))
            o = row["overall"]
            print(
                f"{name} @ {cutoff:g} Å: F vs teacher {1000 * o['forces_rmse_vs_teacher']:.1f} "
                f"meV/Å, E vs teacher {1000 * o['energy_rmse_vs_teacher']:.1f} meV/atom, "
                f"F vs DFT {1000 * o['forces_rmse_vs_dft']:.0f} meV/Å, "
                f"{o['pairs_per_atom']:.1f} pairs/atom",
                flush=True,
            )


def teacher_vs_dft(test, reference) -> dict:
    """Force RMSE of the teacher's labels against the DFT labels, per subset."""
    sums: dict[str, list[float]] = {}
    for data, ref in zip(test, reference):
        sq = float((ref.forces.double() - data.forces.double()).square().sum())
        for key in ("overall", data.subset):
            s = sums.setdefault(key, [0.0, 0.0])
            s[0] += sq
            s[1] += 3 * data.num_nodes
    return {k: {"forces_rmse_vs_dft": (s[0] / s[1]) ** 0.5} for k, s in sums.items()}


def errors(model, test, reference, cutoff: float, batch_size: int = 4) -> dict:
    """One forward pass per structure: RMSEs against the teacher and DFT, per subset."""
    graph = FlexibleRadiusGraph(model.r_max, edge_rule=model.edge_rule)
    sums: dict[str, torch.Tensor] = {}
    for start in range(0, len(test), batch_size):
        items = []
        for data in test[start : start + batch_size]:
            item = copy.copy(data)
            item.cutoff = torch.full_like(data.pos[:, 0], cutoff)
            items.append(item)
        batch = Batch.from_data_list(items)
        refs = Batch.from_data_list(reference[start : start + batch_size])
        out = model(batch)
        forces, energy = out["forces"].detach().double(), out["energy"].detach().double()
        edges = graph(batch.clone()).edge_index[1]
        natoms = torch.bincount(batch.batch, minlength=batch.num_graphs).double()
        for g, subset in enumerate(batch.subset):
            atoms = batch.batch == g
            dt = (forces[atoms] - refs.forces[atoms].double()).square().sum()
            dd = (forces[atoms] - batch.forces[atoms].double()).square().sum()
            de = ((energy[g] - refs.energy[g].double()) / natoms[g]).square()
            pairs = float((batch.batch[edges] == g).sum())
            row = torch.tensor([dt, dd, 3 * natoms[g], de, 1.0, pairs, natoms[g]])
            for key in ("overall", subset):
                sums[key] = sums.get(key, torch.zeros(7, dtype=torch.float64)) + row
    return {
        key: {
            "forces_rmse_vs_teacher": float((s[0] / s[2]).sqrt()),
            "forces_rmse_vs_dft": float((s[1] / s[2]).sqrt()),
            "energy_rmse_vs_teacher": float((s[3] / s[4]).sqrt()),
            "pairs_per_atom": float(s[5] / s[6]),
            "num_structures": int(s[4]),
        }
        for key, s in sums.items()
    }


if __name__ == "__main__":
    main()
