"""MD step time of one FCL model in ASE, LAMMPS and torch-sim, and batched throughput.

Part 1 — one molecular-crystal supercell (default: naphthalene, 2x2x2 = 288 atoms), NVE
velocity Verlet at 0.5 fs: milliseconds per step in ASE (:class:`pyg_fcl.FCLCalculator`), LAMMPS
(:class:`pyg_fcl.integrations.lammps.FCLLammps`, ``fix nve``) and torch-sim
(:class:`pyg_fcl.integrations.torchsim.FCLTorchSimModel`, ``ts.nve``), each at ``r_max`` and at
optimized per-element cutoffs.

Part 2 — throughput (atom·steps/s) over several different crystals: all of them in one batched
torch-sim state against ASE stepping them one after the other, again at ``r_max`` and at
optimized cutoffs.

Every engine keeps a Verlet-skin neighbour list (skin 0.5 Å); the number of searches per run is
reported, so the table says whether an engine searched on every step. The engines run in
alternation (round robin over ``--repeats``) so that they see the same machine load, and each
setting keeps its fastest repeat. Machine, threads and load average are printed and saved.

Usage::

    python benchmarks/engines.py                                   # defaults below
    python benchmarks/engines.py --steps 10 --repeats 2 --json benchmarks/results/engines.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.io import read
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

import pyg_fcl
from pyg_fcl import FCLCalculator

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "molcrys_x23"
MODEL = ROOT / "models" / "pyg_fcl_models" / "pretrained" / "fcl_molcrys_x23.pt"
#: (file, frame) of the crystals of part 2 (the first crystal frame of each file)
BATCH = [
    ("13_naphthalene.xyz", 10),
    ("06_benzene.xyz", 10),
    ("07_co2.xyz", 10),
    ("04_ammonia.xyz", 10),
    ("11_formamide.xyz", 10),
    ("16_pyrazine.xyz", 10),
    ("19_trioxane.xyz", 10),
    ("20_uracil.xyz", 10),
]
DT_FS, TEMPERATURE, SKIN = 0.5, 300.0, 0.5


def _atoms(name: str, index: int, supercell=(1, 1, 1), seed: int = 0):
    atoms = read(DATA / name, index=index)
    if not atoms.pbc.all() or atoms.cell.volume > 5000:
        raise ValueError(f"{name}[{index}] is not a crystal frame")
    atoms.calc = None
    atoms = atoms.repeat(supercell)
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE, rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms


# ---------------------------------------------------------------------- one engine, one run
def run_ase(model, atoms_list, cutoffs, steps):
    """Seconds for ``steps`` steps of every structure in turn, and the searches."""
    calcs, dyns = [], []
    for atoms in atoms_list:
        atoms = atoms.copy()
        atoms.calc = FCLCalculator(model, cutoffs=cutoffs, skin=SKIN)
        calcs.append(atoms.calc)
        dyns.append(VelocityVerlet(atoms, timestep=DT_FS * units.fs))
    for dyn in dyns:
        dyn.run(1)  # first evaluation and search outside the timing
    start = time.perf_counter()
    for dyn in dyns:
        dyn.run(steps)
    seconds = time.perf_counter() - start
    return seconds, sum(c.stats["builds"] for c in calcs) - len(calcs)


def run_torchsim(model, atoms_list, cutoffs, steps):
    import torch_sim as ts

    from pyg_fcl.integrations.torchsim import FCLTorchSimModel

    dtype = next(model.parameters()).dtype
    wrapper = FCLTorchSimModel(model, cutoffs=cutoffs, skin=SKIN, compute_stress=False)
    state = ts.io.atoms_to_state(atoms_list, torch.device("cpu"), dtype)
    velocities = np.concatenate([a.get_velocities() for a in atoms_list])
    state.momenta = state.masses[:, None] * torch.as_tensor(velocities, dtype=dtype)
    dt = torch.tensor(DT_FS * 1e-3 * ts.units.MetalUnits.time, dtype=dtype)
    init, update = ts.nve(wrapper, dt=dt, kT=torch.tensor(0.0, dtype=dtype))
    md = update(init(state))
    builds = wrapper.stats["builds"]
    start = time.perf_counter()
    for _ in range(steps):
        md = update(md)
    return time.perf_counter() - start, wrapper.stats["builds"] - builds


def run_lammps(model, atoms, cutoffs, steps, folder):
    from ase.io import write

    from pyg_fcl.integrations.lammps import FCLLammps

    elements = sorted(set(atoms.get_chemical_symbols()))
    data = Path(folder) / "bench.data"
    write(
        data,
        atoms,
        format="lammps-data",
        specorder=elements,
        masses=True,
        units="metal",
        atom_style="atomic",
        velocities=True,
    )
    driver = FCLLammps(model, elements, cutoffs=cutoffs, skin=SKIN, compute_virial=False)
    driver.commands(
        f"units metal\natom_style atomic\nread_data {data}\nfix fcl all external pf/callback 1 1\n"
    )
    driver.attach("fcl")
    driver.commands(f"timestep {DT_FS * 1e-3}\nfix nve all nve\nthermo 0\nrun 1")
    builds = driver.calc.stats["builds"]
    start = time.perf_counter()
    driver.commands(f"run {steps} pre no post no")
    seconds = time.perf_counter() - start
    builds = driver.calc.stats["builds"] - builds
    driver.close()
    return seconds, builds


# ---------------------------------------------------------------------- the benchmark
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--crystal", default="13_naphthalene.xyz")
    parser.add_argument("--frame", type=int, default=10)
    parser.add_argument("--supercell", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument(
        "--cutoffs",
        default=str(ROOT / "examples" / "lammps" / "cutoffs.json"),
        help="optimized cutoffs of the supercell (part 1)",
    )
    parser.add_argument(
        "--batch-cutoffs",
        default=str(ROOT / "benchmarks" / "results" / "engines_cutoffs.json"),
        help="optimized per-element cutoffs for the crystals of part 2",
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--engines", nargs="+", default=["ase", "lammps", "torchsim"])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = pyg_fcl.load_model(args.model)
    load_before = os.getloadavg()
    crystal = _atoms(args.crystal, args.frame, tuple(args.supercell))
    batch = [_atoms(name, index, seed=k) for k, (name, index) in enumerate(BATCH)]
    settings = {"r_max": None, "optimized": args.cutoffs}
    batch_settings = {"r_max": None, "optimized": args.batch_cutoffs}
    single = {(e, s): [] for e in args.engines for s in settings}
    many = {(e, s): [] for e in ("ase", "torchsim") if e in args.engines for s in settings}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, cutoffs in settings.items():
                for engine in args.engines:
                    if engine == "ase":
                        out = run_ase(model, [crystal], cutoffs, args.steps)
                    elif engine == "torchsim":
                        out = run_torchsim(model, [crystal], cutoffs, args.steps)
                    else:
                        out = run_lammps(model, crystal, cutoffs, args.steps, tmp)
                    single[engine, name].append(out)
                    print(
                        f"[{repeat}] {len(crystal)} atoms {engine:8s} {name:9s} "
                        f"{out[0] / args.steps * 1e3:8.1f} ms/step, {out[1]} searches"
                    )
            for name, cutoffs in batch_settings.items():
                for engine in [e for e in ("ase", "torchsim") if e in args.engines]:
                    run = run_ase if engine == "ase" else run_torchsim
                    out = run(model, batch, cutoffs, args.steps)
                    many[engine, name].append(out)
                    print(
                        f"[{repeat}] {len(batch)} crystals {engine:8s} {name:9s} "
                        f"{out[0]:.2f} s, {out[1]} searches"
                    )
    n_batch = sum(len(a) for a in batch)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": args.threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "model": os.path.relpath(args.model, ROOT),
        "steps": args.steps,
        "repeats": args.repeats,
        "crystal": f"{args.crystal}[{args.frame}] x {tuple(args.supercell)}",
        "num_atoms": len(crystal),
        "batch": [f"{n}[{i}]" for n, i in BATCH],
        "batch_atoms": n_batch,
        "single": {
            f"{e}/{s}": {
                "ms_per_step": min(t for t, _ in runs) / args.steps * 1e3,
                "searches": runs[0][1],
            }
            for (e, s), runs in single.items()
        },
        "many": {
            f"{e}/{s}": {
                "atom_steps_per_s": n_batch * args.steps / min(t for t, _ in runs),
                "searches": runs[0][1],
            }
            for (e, s), runs in many.items()
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
