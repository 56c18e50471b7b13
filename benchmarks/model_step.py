"""Time per energy+forces step: FCL-MACE (pyg_fcl_models) against mace-torch, same settings.

Both models get the same structures, the same neighbour pairs and the same hyperparameters
(channels, l_max, hidden l_max, correlation, layers, Bessel functions, radial MLP, readout MLP,
avg_num_neighbors, dtype, threads). Timed: one forward pass with forces by autograd, neighbour
list prebuilt (mace-torch gets the pair list; FCL-MACE gets its cached ``r_max`` search and prunes
it to the per-atom cutoffs inside the step, which is included). One FCL-MACE model with
``r_max`` = the largest cutoff serves every cutoff (that is the point of FCL); mace-torch is built
anew with ``r_max`` = each cutoff.

mace-torch pins e3nn 0.4.4, so it runs in its own virtual environment (created on first use:
``python -m venv``, ``pip install torch==<this torch>`` first, then ``mace-torch``; a
``.gitignore`` inside keeps it out of git) in a worker subprocess that answers one timed step per
request as JSON. The two models' steps alternate, so both see the same machine load (the
machine may be shared). ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` lets that e3nn import under
torch >= 2.6.

With ``--fcl-range R_MIN R_MAX`` FCL-MACE also runs with per-atom cutoffs drawn uniformly in
that range (mean edge rule; no mace-torch counterpart): the degrees of such a graph differ from
atom to atom, and the row shows whether its time still follows its pair count, i.e. lies on the
line fitted through the global-cutoff rows (``fcl_time_over_fit``; 1.0 = on the line).

Usage::

    python benchmarks/model_step.py                      # both structures, 3/4/5/6 Å
    python benchmarks/model_step.py --skip-mace --fcl-range 3 6   # FCL-MACE only, + U[3, 6] Å
    python benchmarks/model_step.py --structures benzene --cutoffs 4 6 --repeats 2
    python benchmarks/model_step.py --json out/model_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from pyg_fcl import FlexibleRadiusGraph, RMaxGraph, atoms_to_data, radius_graph
from pyg_fcl_models import FCLMACE

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent / "data"

MACE_RUNNER = r"""
import json, sys, time
import numpy as np, torch
from e3nn import o3
from mace import modules
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
torch.set_default_dtype(getattr(torch, args["dtype"]))
dtype = torch.get_default_dtype()
blob = torch.load(args["input"], weights_only=False)
cases = []
for s in blob["structures"]:
    z = s["z"]
    elements = sorted(set(z.tolist()))
    index = {e: i for i, e in enumerate(elements)}
    one_hot = torch.nn.functional.one_hot(torch.tensor([index[int(v)] for v in z]), len(elements))
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    for case in s["cases"]:
        torch.manual_seed(0)
        model = modules.MACE(
            r_max=case["cutoff"], num_bessel=args["num_bessel"], num_polynomial_cutoff=5,
            max_ell=args["l_max"], interaction_cls=block, interaction_cls_first=block,
            num_interactions=args["layers"], num_elements=len(elements),
            hidden_irreps=o3.Irreps(args["hidden_irreps"]), MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(len(elements)), avg_num_neighbors=args["avg_num_neighbors"],
            atomic_numbers=elements, correlation=args["correlation"],
            gate=torch.nn.functional.silu, radial_MLP=args["radial_mlp"],
        ).to(dtype)
        n = len(z)
        data = {
            "positions": s["pos"].to(dtype), "node_attrs": one_hot.to(dtype),
            "edge_index": case["edge_index"], "shifts": case["shifts"].to(dtype),
            "unit_shifts": case["unit_shifts"].to(dtype), "cell": s["cell"].to(dtype),
            "batch": torch.zeros(n, dtype=torch.long), "ptr": torch.tensor([0, n]),
        }
        cases.append((model, data))
print("READY", flush=True)
for line in sys.stdin:  # one case index per line: run one timed energy+forces step
    k = int(line)
    if k < 0:
        break
    model, data = cases[k]
    d = dict(data, positions=data["positions"].detach().clone())
    t0 = time.perf_counter()
    out = model(d, training=False, compute_force=True)
    float(out["forces"].sum())
    t1 = time.perf_counter()
    print(json.dumps({"time": t1 - t0, "energy": float(out["energy"].sum())}), flush=True)
"""


class MaceWorker:
    """mace-torch in its own environment, one timed step per request (interleaved with ours)."""

    def __init__(self, python: Path, settings: dict, blobs: list[dict], tmp: Path) -> None:
        path = tmp / "input.pt"
        torch.save({"structures": blobs}, path)
        self.proc = subprocess.Popen(
            [str(python), "-c", MACE_RUNNER, json.dumps(dict(settings, input=str(path)))],
            env=dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        printed = []  # mace-torch may print notices before the worker is ready
        for line in self.proc.stdout:
            if line.strip() == "READY":
                break
            printed.append(line)
        else:
            raise RuntimeError(
                f"mace-torch worker failed to start (exit {self.proc.wait()}):\n{''.join(printed)}"
            )

    def step(self, case: int) -> float:
        self.proc.stdin.write(f"{case}\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)["time"]
        raise RuntimeError(f"mace-torch worker died (exit {self.proc.wait()})")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("-1\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def water_box(n_side: int = 6, spacing: float = 3.104, seed: int = 0) -> Atoms:
    """``n_side^3`` water molecules on a cubic grid, random orientations (~1 g/cm^3)."""
    rng = np.random.default_rng(seed)
    h2o = molecule("H2O")
    h2o.positions -= h2o.get_center_of_mass()
    pos, symbols = [], []
    for idx in np.ndindex(n_side, n_side, n_side):
        rot = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
        pos.append(h2o.positions @ rot.T + (np.array(idx) + 0.5) * spacing)
        symbols += h2o.get_chemical_symbols()
    length = n_side * spacing
    return Atoms(symbols, positions=np.concatenate(pos), cell=[length] * 3, pbc=True)


def benzene_crystal(reps: int = 2) -> Atoms:
    """The X23 benzene crystal (48 atoms, frame 10 of the shipped file) repeated ``reps^3``."""
    atoms = ase.io.read(DATA / "molcrys_x23" / "06_benzene.xyz", index=10)
    return atoms.repeat(reps)


STRUCTURES = {"benzene": benzene_crystal, "water": water_box}


def ensure_mace_venv(venv: Path) -> Path:
    """Create the mace-torch virtual environment once; return its python."""
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import mace, e3nn"],
            env=dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1"),
            capture_output=True,
        )
        if check.returncode == 0:
            return python
    print(f"creating {venv} (torch=={torch.__version__.split('+')[0]}, mace-torch) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (venv / ".gitignore").write_text("*\n")
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(pip + [f"torch=={torch.__version__.split('+')[0]}"], check=True)
    subprocess.run(pip + ["mace-torch"], check=True)
    return python


def cases_for(atoms: Atoms, cutoffs: list[float], r_max: float) -> tuple[dict, dict]:
    """The structure as tensors, and the pair list at each cutoff (searched once at r_max)."""
    data = atoms_to_data(atoms, dtype=torch.float64)
    edge_index, shift = radius_graph(data.pos, r_max, cell=data.cell, pbc=data.pbc)
    j, i = edge_index
    vec = data.pos[j] - data.pos[i] + shift.double() @ data.cell[0]
    length = vec.norm(dim=1)
    cases = []
    for r in cutoffs:
        keep = length < r
        s = shift[keep]
        # mace-torch: vector = pos[edge_index[1]] - pos[edge_index[0]] + shifts; with our
        # (j, i) pairs and shifts = -S @ cell that is -(pos_j - pos_i + S @ cell): same geometry
        cases.append(
            {
                "cutoff": float(r),
                "edge_index": edge_index[:, keep].clone(),
                "shifts": -(s.double() @ data.cell[0]),
                "unit_shifts": -s.double(),
                "pairs_per_atom": float(keep.sum()) / len(atoms),
            }
        )
    blob = {"z": data.z, "pos": data.pos, "cell": data.cell[0], "cases": cases}
    return data, blob


def fcl_case(model: FCLMACE, data, cutoff: float | torch.Tensor):
    """The structure with a global (or per-atom ``[N]``) cutoff and its ``r_max`` search cached on
    it (as a DataLoader transform or the calculator provides it): the timed step prunes the cached
    graph, as mace-torch gets a prebuilt pair list."""
    d = data.clone()
    d.cutoff = torch.as_tensor(cutoff, dtype=model.dtype).expand(d.num_nodes).clone()
    d.pos = d.pos.to(model.dtype)
    d.cell = d.cell.to(model.dtype)
    return FlexibleRadiusGraph(model.r_max, edge_rule=model.edge_rule)(d)


def fcl_step(model: FCLMACE, d) -> float:
    t0 = time.perf_counter()
    out = model(d)
    float(out["forces"].sum())
    return time.perf_counter() - t0


def per_atom_row(model: FCLMACE, data, name: str, args) -> dict:
    """FCL-MACE with per-atom cutoffs uniform in ``args.fcl_range`` (no mace-torch counterpart)."""
    lo, hi = args.fcl_range
    gen = torch.Generator().manual_seed(0)
    cutoff = lo + (hi - lo) * torch.rand(data.num_nodes, generator=gen, dtype=torch.float64)
    d = fcl_case(model, data, cutoff.clamp(max=model.r_max))
    pairs = RMaxGraph.cached(d).num_kept(d.cutoff, model.edge_rule)
    times = [fcl_step(model, d) for _ in range(args.warmup + args.repeats)][args.warmup :]
    row = {
        "structure": name,
        "cutoff": None,
        "per_atom_cutoffs": [lo, hi],
        "pairs_per_atom": pairs / data.num_nodes,
        "fcl_mace_s": statistics.median(times),
        "fcl_mace_times_s": times,
    }
    print(
        f"{name:<22} r=U[{lo:.1f}, {hi:.1f}] Å  pairs/atom {row['pairs_per_atom']:6.1f}  "
        f"FCL-MACE {row['fcl_mace_s']:.3f} s",
        flush=True,
    )
    return row


def linear_fit(x: list[float], y: list[float]) -> dict:
    """Least-squares ``y = a + b x`` and its R^2."""
    x_, y_ = np.asarray(x), np.asarray(y)
    b, a = np.polyfit(x_, y_, 1)
    pred = a + b * x_
    ss = float(((y_ - y_.mean()) ** 2).sum())
    r2 = 1.0 - float(((y_ - pred) ** 2).sum()) / ss if ss > 0 else 1.0
    return {"a_s": float(a), "b_s_per_pair_per_atom": float(b), "r2": r2}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--structures", nargs="+", default=["benzene", "water"], choices=STRUCTURES)
    p.add_argument("--cutoffs", nargs="+", type=float, default=[3.0, 4.0, 5.0, 6.0])
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--l-max", type=int, default=3)
    p.add_argument("--hidden-l-max", type=int, default=1)
    p.add_argument("--correlation", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--num-bessel", type=int, default=8)
    p.add_argument("--radial-mlp", nargs="+", type=int, default=[64, 64, 64])
    p.add_argument("--avg-num-neighbors", type=float, default=40.0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of both models")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--venv", type=Path, default=ROOT / ".venv-mace")
    p.add_argument("--skip-mace", action="store_true", help="time FCL-MACE only")
    p.add_argument(
        "--fcl-range",
        nargs=2,
        type=float,
        metavar=("R_MIN", "R_MAX"),
        help="also time FCL-MACE with per-atom cutoffs uniform in [R_MIN, R_MAX] (seed 0)",
    )
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    r_max = max(args.cutoffs)
    hidden = "+".join(
        f"{args.channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(args.hidden_l_max + 1)
    )

    structures, blobs = {}, []
    for name in args.structures:
        atoms = STRUCTURES[name]()
        data, blob = cases_for(atoms, args.cutoffs, r_max)
        blob["name"] = f"{name} ({len(atoms)} atoms)"
        structures[name] = (atoms, data, blob)
        blobs.append(blob)

    settings = {
        "channels": args.channels, "l_max": args.l_max, "hidden_irreps": hidden,
        "correlation": args.correlation, "layers": args.layers, "num_bessel": args.num_bessel,
        "radial_mlp": args.radial_mlp, "avg_num_neighbors": args.avg_num_neighbors,
        "dtype": args.dtype, "threads": args.threads, "warmup": args.warmup,
        "repeats": args.repeats,
    }  # fmt: skip
    tmp = tempfile.TemporaryDirectory()
    worker = None
    if not args.skip_mace:
        worker = MaceWorker(ensure_mace_venv(args.venv), settings, blobs, Path(tmp.name))
    rows, case_index = [], 0
    try:
        for atoms, data, blob in structures.values():
            torch.manual_seed(0)
            model = FCLMACE(
                r_max=r_max,
                r_min=min(args.cutoffs),
                elements=sorted(set(atoms.numbers.tolist())),
                num_channels=args.channels,
                l_max=args.l_max,
                hidden_l_max=args.hidden_l_max,
                correlation=args.correlation,
                num_interactions=args.layers,
                num_bessel=args.num_bessel,
                radial_mlp=args.radial_mlp,
                avg_num_neighbors=args.avg_num_neighbors,
                dtype=args.dtype,
            ).eval()
            # inference, as mace-torch's compute_force=True, training=False: no second-order graph
            model.requires_grad_(False)
            for case in blob["cases"]:
                d = fcl_case(model, data, case["cutoff"])
                ours, theirs = [], []
                for k in range(args.warmup + args.repeats):  # alternate: same machine load
                    t_ours = fcl_step(model, d)
                    t_theirs = worker.step(case_index) if worker else None
                    if k >= args.warmup:
                        ours.append(t_ours)
                        theirs.append(t_theirs)
                case_index += 1
                row = {
                    "structure": blob["name"],
                    "cutoff": case["cutoff"],
                    "pairs_per_atom": case["pairs_per_atom"],
                    "fcl_mace_s": statistics.median(ours),
                    "fcl_mace_times_s": ours,
                }
                line = f"{row['structure']:<22} r={row['cutoff']:.1f} Å  "
                line += (
                    f"pairs/atom {row['pairs_per_atom']:6.1f}  FCL-MACE {row['fcl_mace_s']:.3f} s"
                )
                if worker:
                    row["mace_torch_s"] = statistics.median(theirs)
                    row["mace_torch_times_s"] = theirs
                    row["ratio"] = row["fcl_mace_s"] / row["mace_torch_s"]
                    line += f"  mace-torch {row['mace_torch_s']:.3f} s  ratio {row['ratio']:.2f}"
                rows.append(row)
                print(line, flush=True)
            if args.fcl_range:
                rows.append(per_atom_row(model, data, blob["name"], args))
    finally:
        if worker:
            worker.close()
        tmp.cleanup()
    fits = {}
    for name in {r["structure"] for r in rows}:
        sel = [r for r in rows if r["structure"] == name and "per_atom_cutoffs" not in r]
        x = [r["pairs_per_atom"] for r in sel]
        fits[name] = {"fcl_mace": linear_fit(x, [r["fcl_mace_s"] for r in sel])}
        if all("mace_torch_s" in r for r in sel):
            fits[name]["mace_torch"] = linear_fit(x, [r["mace_torch_s"] for r in sel])
        for r in rows:  # per-atom cutoffs: time against the global-cutoff line at the same pairs
            if r["structure"] == name and "per_atom_cutoffs" in r:
                fit = fits[name]["fcl_mace"]
                expected = fit["a_s"] + fit["b_s_per_pair_per_atom"] * r["pairs_per_atom"]
                r["fcl_time_over_fit"] = r["fcl_mace_s"] / expected
                print(
                    f"{name:<22} per-atom U{r['per_atom_cutoffs']} Å: "
                    f"{r['fcl_time_over_fit']:.2f}x the global-cutoff line at its pairs"
                )
    result = {
        "settings": settings,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
        },
        "rows": rows,
        "fits_time_vs_pairs_per_atom": fits,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
