"""The FCL paper's Fig. 4: energy of a diatomic against distance at several inference cutoffs.

For each global inference cutoff ``r_c`` the curve ``E(r) - E(far)`` must decay smoothly to zero
at ``r = r_c`` (the polynomial envelope has vanishing value, slope and curvature there) and stay
zero beyond it. The script writes a PNG and a table (JSON) with, per cutoff, the energy just
inside ``r_c`` and the largest energy and force beyond it (which must be 0).

    python examples/fig4_diatomic.py --model models/pyg_fcl_models/pretrained/fcl_molcrys_x23.pt \\
        --pair C O --cutoffs 3 3.5 4 4.5 5 --out docs/figures/fig4_diatomic.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from ase.data import atomic_numbers
from torch_geometric.data import Batch, Data

from pyg_fcl import load_model


def diatomic_curve(model, z1: int, z2: int, cutoff: float, distances: torch.Tensor):
    """Energies ``[D]`` and the force on atom 2 along the bond ``[D]`` (eV, eV/Å)."""
    items = []
    for r in distances.tolist():
        items.append(
            Data(
                z=torch.tensor([z1, z2]),
                pos=torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]]),
                cutoff=torch.full((2,), cutoff),
            )
        )
    batch = Batch.from_data_list(items)
    model.eval()
    with torch.enable_grad():
        out = model(batch)
    energy = out["energy"].detach().double()
    force = out["forces"].detach().double()[1::2, 0]
    return energy, force


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="a pyg-fcl checkpoint")
    p.add_argument("--pair", nargs=2, default=["C", "O"], help="two element symbols")
    p.add_argument("--cutoffs", type=float, nargs="+", help="inference cutoffs (default 4 values)")
    p.add_argument("--r-start", type=float, default=0.8)
    p.add_argument("--points", type=int, default=400)
    p.add_argument("--out", default="fig4_diatomic.png")
    args = p.parse_args(argv)

    model = load_model(args.model)
    z1, z2 = (atomic_numbers[s] for s in args.pair)
    cutoffs = args.cutoffs or torch.linspace(model.r_min, model.r_max, 4).tolist()
    r_end = model.r_max + 1.0
    distances = torch.linspace(args.r_start, r_end, args.points)
    table, curves = {}, {}
    for rc in cutoffs:
        energy, force = diatomic_curve(model, z1, z2, rc, distances)
        far = energy[-1]  # beyond every cutoff: the two isolated atoms
        rel = energy - far
        inside = distances < rc
        beyond = ~inside
        curves[rc] = rel
        table[f"{rc:g}"] = {
            "energy_at_0.95rc_eV": float(rel[(distances < 0.95 * rc)][-1]),
            "energy_just_inside_rc_eV": float(rel[inside][-1]),
            "max_abs_energy_beyond_rc_eV": float(rel[beyond].abs().max()),
            "max_abs_force_beyond_rc_eV_per_A": float(force[beyond].abs().max()),
        }
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for rc, rel in curves.items():
        ax.plot(distances, rel, label=f"$r_c$ = {rc:g} Å")
        ax.axvline(rc, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
    low = min(float(c[distances > 1.0].min()) for c in curves.values())
    high = max(float(c[distances > 1.0].max()) for c in curves.values())
    pad = 0.1 * max(high - low, 1e-3)
    ax.set_ylim(low - pad, high + pad)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel(f"{args.pair[0]}–{args.pair[1]} distance (Å)")
    ax.set_ylabel("E(r) − E(∞) (eV)")
    ax.set_title(f"{Path(args.model).name}: diatomic at global inference cutoffs")
    ax.legend()
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    out.with_suffix(".json").write_text(json.dumps(table, indent=1))
    print(json.dumps(table, indent=1))
    return table


if __name__ == "__main__":
    main()
