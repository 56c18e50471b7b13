"""Training step of the cutoff-flexible SevenNet-0 against sevenn's own model, and FCL against 5 Å.

Three kinds of steps on the same batches of X23 crystal frames, with the same SevenNet-0 weights:

- *sevenn*: sevenn's own model (``SevenNetCheckpoint.build_model()``) on sevenn's own graph
  (``sevenn.train.dataload.atoms_to_graph`` at 5 Å, built once per batch outside the timer, as its
  data loader does); forces from the gradient with respect to its edge vectors, as in sevenn's
  own training;
- *wrapped 5 Å*: :class:`~pyg_fcl.nn.adapters.FlexibleSevenNet` with every atom at 5 Å (the
  ``r_max`` graph cached, pruned in the timed step, forces from positions by autograd);
- *wrapped FCL*: the same model at per-atom cutoffs drawn uniformly in ``[r_min, 5]`` Å at every
  step (``PerAtomCutoffSampler``), the mean edge rule.

A step is what a trainer does: forward with forces (``create_graph``), energy-per-atom + force
MSE, backward, an AdamW step. The kinds alternate, so all see the same machine load; each kind's
median is reported, in wall time and in the process's CPU time (on a shared machine the CPU time
is the fairer measure: it does not count the time the process waited for a core). Targets
(issue 11): wrapped 5 Å no slower than sevenn; FCL faster than 5 Å.

Examples:
    python benchmarks/sevennet_step.py                         # table on stdout
    python benchmarks/sevennet_step.py --steps 10 --threads 2 --json out/sevennet_step.json
"""

from __future__ import annotations

import os

# Spinning OpenMP threads dominate timings on a shared machine (see benchmarks/neighbors.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "molcrys_x23"
CRYSTALS = ["06_benzene", "07_co2", "04_ammonia", "20_uracil", "11_formamide", "09_cytosine"]
KINDS = ("sevenn", "wrapped 5 Å", "wrapped FCL")


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("Examples:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--crystals", nargs="+", default=CRYSTALS, help="X23 file stems")
    p.add_argument("--frames", type=int, default=4, help="crystal frames per batch (default 4)")
    p.add_argument("--batches", type=int, default=2, help="distinct batches cycled through")
    p.add_argument("--r-min", type=float, default=2.5, help="smallest FCL cutoff (Å)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps of each kind")
    p.add_argument("--steps", type=int, default=5, help="timed steps of each kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    return p.parse_args(argv)


def load_batches(args, r_max: float) -> list[tuple]:
    """``(pyg-fcl Batch with cached r_max graph, sevenn Batch)`` pairs of the same frames."""
    import ase.io
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import atoms_to_graph
    from torch_geometric.data import Batch

    from pyg_fcl import FlexibleRadiusGraph, atoms_to_data

    pool = []
    for name in args.crystals:
        frames = ase.io.read(DATA / f"{name}.xyz", index=":")
        size = max(len(a) for a in frames)
        crystal = [a for a in frames if len(a) == size]  # leave the gas-phase molecules out
        pool.extend(crystal[:: max(1, len(crystal) // args.batches)][: args.batches])
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(pool), generator=gen).tolist()
    cache = FlexibleRadiusGraph(r_max)
    batches = []
    for b in range(args.batches):
        chosen = [pool[k] for k in order[b * args.frames : (b + 1) * args.frames]]
        ours = Batch.from_data_list([cache.build_cache(atoms_to_data(a)) for a in chosen])
        theirs = Batch.from_data_list(
            [
                AtomGraphData.from_numpy_dict(atoms_to_graph(a, r_max, y_from_calc=True))
                for a in chosen
            ]
        )
        batches.append((ours, theirs))
    return batches


def _loss(energy, forces, batch) -> torch.Tensor:
    natoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(energy.dtype)
    loss = ((energy - batch.energy.to(energy.dtype)) / natoms).square().mean()
    return loss + (forces - batch.forces.to(forces.dtype)).square().mean()


def wrapped_step(model, optimizer, batch, cutoff: torch.Tensor) -> float:
    batch = batch.clone()
    batch.cutoff = cutoff
    start, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    _loss(out["energy"], out["forces"], batch).backward()
    optimizer.step()
    return time.perf_counter() - start, time.process_time() - cpu


def sevenn_step(model, optimizer, batch, labels) -> float:
    from sevenn import _keys as KEY

    batch = batch.clone()  # sevenn's forward writes into its input and needs a fresh leaf
    start, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    _loss(out[KEY.PRED_TOTAL_ENERGY], out[KEY.PRED_FORCE], labels).backward()
    optimizer.step()
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    from sevenn.util import load_checkpoint

    from pyg_fcl import PerAtomCutoffSampler
    from pyg_fcl.nn.adapters import FlexibleSevenNet

    torch.manual_seed(args.seed)
    wrapped = FlexibleSevenNet.from_pretrained("7net-0", r_min=args.r_min).train()
    native = load_checkpoint("7net-0").build_model().train()
    r_max = wrapped.r_max
    batches = load_batches(args, r_max)
    # Same weights, same energies before any step (a check that the two compute the same thing).
    ours, theirs = batches[0]
    from sevenn import _keys as KEY

    e_ours = wrapped(ours.clone())["energy"].detach()
    e_theirs = native(theirs.clone())[KEY.PRED_TOTAL_ENERGY].detach()
    max_de = float((e_ours - e_theirs).abs().max())
    if max_de > 1e-3:
        raise RuntimeError(f"wrapped and sevenn energies differ by {max_de:.2e} eV")
    opt_wrapped = torch.optim.AdamW(wrapped.parameters(), lr=1e-5)
    opt_native = torch.optim.AdamW(native.parameters(), lr=1e-5)
    sampler = PerAtomCutoffSampler(args.r_min, r_max, mode="atom", seed=args.seed)

    times = {k: [] for k in KINDS}
    cpu_times = {k: [] for k in KINDS}
    pairs = {k: [] for k in KINDS}
    try:
        from tqdm import tqdm
    except ImportError:  # progress bar is optional

        def tqdm(x, **_):
            return x

    for k in tqdm(range(args.warmup + args.steps), desc="steps"):
        ours, theirs = batches[k % len(batches)]
        full = torch.full((ours.num_nodes,), r_max)
        fcl = sampler(ours.clone()).cutoff.to(full.dtype)
        for kind, cutoff in zip(KINDS, (None, full, fcl)):
            if cutoff is None:
                t = sevenn_step(native, opt_native, theirs, ours)
            else:
                t = wrapped_step(wrapped, opt_wrapped, ours, cutoff)
            if k >= args.warmup:
                times[kind].append(t[0])
                cpu_times[kind].append(t[1])
                pairs[kind].append(_pairs_per_atom(ours, theirs, cutoff))
    result = {"kinds": {}, "max_abs_energy_difference_eV": max_de}
    for kind in KINDS:
        result["kinds"][kind] = {
            "median_s": statistics.median(times[kind]),
            "median_cpu_s": statistics.median(cpu_times[kind]),
            "times_s": times[kind],
            "cpu_times_s": cpu_times[kind],
            "pairs_per_atom": statistics.mean(pairs[kind]),
        }
    for suffix, key in (("", "median_s"), ("_cpu", "median_cpu_s")):
        med = {k: v[key] for k, v in result["kinds"].items()}
        result["wrapped_over_sevenn" + suffix] = med["wrapped 5 Å"] / med["sevenn"]
        result["fcl_over_5A" + suffix] = med["wrapped FCL"] / med["wrapped 5 Å"]
    atoms = statistics.mean(b[0].num_nodes for b in batches)
    print(
        f"\nSevenNet-0 training step, {args.frames} X23 crystal frames per batch (~{atoms:.0f} "
        f"atoms), float32, {args.threads} threads, median of {args.steps} steps each, FCL "
        f"cutoffs U[{args.r_min}, {r_max}] Å, load average {os.getloadavg()[0]:.1f}"
    )
    print("| step | wall ms | CPU ms | pairs/atom |")
    print("|---|---:|---:|---:|")
    for kind, row in result["kinds"].items():
        print(
            f"| {kind} | {1e3 * row['median_s']:.0f} | {1e3 * row['median_cpu_s']:.0f} | "
            f"{row['pairs_per_atom']:.1f} |"
        )
    for suffix, what in (("", "wall"), ("_cpu", "CPU")):
        print(
            f"{what} time: wrapped / sevenn at 5 Å {result['wrapped_over_sevenn' + suffix]:.2f}x; "
            f"FCL / 5 Å {result['fcl_over_5A' + suffix]:.2f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: str(v) for k, v in vars(args).items()}
        meta.update(torch=torch.__version__, platform=platform.platform(), atoms=atoms)
        meta.update(load_average=os.getloadavg()[0], cpus=os.cpu_count())
        args.json.write_text(json.dumps({"meta": meta, **result}, indent=1))
        print(f"wrote {args.json}")
    return result


def _pairs_per_atom(ours, theirs, cutoff) -> float:
    """Directed edges per atom the step's model sees."""
    if cutoff is None:
        return theirs.edge_index.shape[1] / theirs.num_nodes
    from pyg_fcl import compute_edge_cutoff

    edge_cutoff = compute_edge_cutoff(cutoff, ours.rmax_edge_index, "mean")
    return int((ours.rmax_edge_length < edge_cutoff).sum()) / ours.num_nodes


if __name__ == "__main__":
    main()
