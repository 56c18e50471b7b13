"""Training step of FCL-MACE: random per-atom cutoffs (FCL) against the static cutoff ``r_max``.

One model, one optimizer, the same batches of X23 crystal frames; only the cutoffs differ:

- *static*: every atom at ``r_max`` (a fixed-cutoff model's training step);
- *FCL*: per-atom cutoffs drawn uniformly in ``[r_min, r_max]`` for every step
  (``PerAtomCutoffSampler``, mode ``atom``), the mean edge rule.

A step is what the trainer does: forward with forces by autograd (``create_graph``), an energy +
force loss, backward, an Adam step. The ``r_max`` graph of every frame is searched once and cached
(as the training data loader does); the timed step includes pruning it to the step's cutoffs. The
two kinds of steps alternate, so both see the same machine load; each kind's median is reported
with its pairs per atom and the share of the per-receiver layout's slots that hold an edge.

The issue's target: the FCL step time follows its pair count (``time ratio <= 0.5`` at a pair
ratio of ~0.43, ``r_min`` 2.5, ``r_max`` 5 Å). ``--compare-single-block`` also times both kinds
with the previous layout (every receiver padded to the batch's largest degree, one block), in the
same run. Times are wall-clock and CPU time of the process (all threads; steadier on a shared
machine).

Examples:
    python benchmarks/fcl_step.py                          # defaults, table on stdout
    python benchmarks/fcl_step.py --steps 20 --threads 2 --json out/fcl_step.json
    python benchmarks/fcl_step.py --compare-single-block   # + the previous padded layout
    python benchmarks/fcl_step.py --channels 16 --l-max 1 --frames 4 --profile
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
CRYSTALS = ["06_benzene", "07_co2", "04_ammonia", "13_naphthalene", "20_uracil", "11_formamide"]


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("Examples:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--crystals", nargs="+", default=CRYSTALS, help="X23 file stems")
    p.add_argument("--frames", type=int, default=8, help="frames per batch (default 8)")
    p.add_argument("--batches", type=int, default=4, help="distinct batches cycled through")
    p.add_argument("--r-min", type=float, default=2.5, help="smallest per-atom cutoff (Å)")
    p.add_argument("--r-max", type=float, default=5.0, help="static cutoff and r_max (Å)")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--l-max", type=int, default=2)
    p.add_argument("--hidden-l-max", type=int, default=1)
    p.add_argument("--correlation", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps of each kind")
    p.add_argument("--steps", type=int, default=12, help="timed steps of each kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="print the top ops of one FCL step")
    p.add_argument(
        "--compare-single-block",
        action="store_true",
        help="also time both kinds with every receiver padded to the largest degree",
    )
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    return p.parse_args(argv)


def load_batches(args) -> list:
    """``args.batches`` batches of ``args.frames`` frames with their ``r_max`` graph cached."""
    from torch_geometric.data import Batch

    from pyg_fcl import FlexibleRadiusGraph, read_structures

    dtype = getattr(torch, args.dtype)
    pool = []
    for name in args.crystals:
        frames = read_structures(DATA / f"{name}.xyz", index=":", dtype=dtype)
        pool.extend(frames[:: max(1, len(frames) // (args.frames * args.batches))])
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(pool), generator=gen).tolist()
    cache = FlexibleRadiusGraph(args.r_max)
    batches = []
    for b in range(args.batches):
        chosen = [pool[k] for k in order[b * args.frames : (b + 1) * args.frames]]
        batches.append(Batch.from_data_list([cache.build_cache(d.clone()) for d in chosen]))
    return batches


def build_model(args, elements: list[int]):
    from pyg_fcl_models import FCLMACE

    torch.manual_seed(args.seed)
    return FCLMACE(
        r_max=args.r_max,
        r_min=args.r_min,
        elements=elements,
        num_channels=args.channels,
        l_max=args.l_max,
        hidden_l_max=args.hidden_l_max,
        correlation=args.correlation,
        num_interactions=args.layers,
        avg_num_neighbors=20.0,
        dtype=args.dtype,
    ).train()


def layout_stats(batch, cutoff: torch.Tensor, r_max: float) -> dict:
    """Pairs per atom kept by ``cutoff`` and the per-receiver layout's filled share."""
    from pyg_fcl import RMaxGraph
    from pyg_fcl_models.convolution import Neighborhood

    edge_index = RMaxGraph.cached(batch).prune(cutoff, "mean").edge_index
    nbr = Neighborhood.from_edges(edge_index[0], edge_index[1], batch.num_nodes)
    return {
        "pairs_per_atom": edge_index.shape[1] / batch.num_nodes,
        "slots_filled": edge_index.shape[1] / max(1, nbr.num_slots),
    }


def train_step(model, optimizer, batch, cutoff: torch.Tensor) -> tuple[float, float]:
    """One timed step: forward with forces, energy + force loss, backward, Adam.

    Returns:
        tuple[float, float]: wall-clock and process CPU time (s).
    """
    batch.cutoff = cutoff
    start, start_cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    natoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(out["energy"].dtype)
    loss = ((out["energy"] - batch.energy.to(out["energy"].dtype)) / natoms).square().mean()
    loss = loss + (out["forces"] - batch.forces.to(out["forces"].dtype)).square().mean()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start, time.process_time() - start_cpu


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    from pyg_fcl import PerAtomCutoffSampler

    batches = load_batches(args)
    elements = sorted({int(z) for b in batches for z in b.z.unique()})
    model = build_model(args, elements)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = PerAtomCutoffSampler(args.r_min, args.r_max, mode="atom", seed=args.seed)
    dtype = getattr(torch, args.dtype)

    def static_cutoff(batch):
        return torch.full((batch.num_nodes,), args.r_max, dtype=dtype)

    def fcl_cutoff(batch):
        return sampler(batch.clone()).cutoff.to(dtype)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        batch = batches[0]
        train_step(model, optimizer, batch, fcl_cutoff(batch))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_step(model, optimizer, batch, fcl_cutoff(batch))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))

    from pyg_fcl_models import convolution

    layouts = {"": convolution.MAX_BUCKETS}
    if args.compare_single_block:
        layouts["single-block "] = 1
    kinds = [(f"{tag}{kind}", n) for tag, n in layouts.items() for kind in ("static", "fcl")]
    times = {name: [] for name, _ in kinds}
    cpu = {name: [] for name, _ in kinds}
    stats = {name: [] for name, _ in kinds}
    total = args.warmup + args.steps
    try:
        from tqdm import tqdm
    except ImportError:  # progress bar is optional

        def tqdm(x, **_):
            return x

    default_buckets = convolution.MAX_BUCKETS
    try:
        for k in tqdm(range(total), desc="steps"):
            batch = batches[k % len(batches)]
            cutoffs = {"static": static_cutoff(batch), "fcl": fcl_cutoff(batch)}
            for name, max_buckets in kinds:  # alternate: every kind sees the same load
                convolution.MAX_BUCKETS = max_buckets
                cutoff = cutoffs[name.split()[-1]]
                wall, cpu_s = train_step(model, optimizer, batch, cutoff)
                if k >= args.warmup:
                    times[name].append(wall)
                    cpu[name].append(cpu_s)
                    stats[name].append(layout_stats(batch, cutoff, args.r_max))
    finally:
        convolution.MAX_BUCKETS = default_buckets
    result = {"kinds": {}}
    for name in times:
        result["kinds"][name] = {
            "median_s": statistics.median(times[name]),
            "median_cpu_s": statistics.median(cpu[name]),
            "times_s": times[name],
            "cpu_s": cpu[name],
            "pairs_per_atom": statistics.mean(s["pairs_per_atom"] for s in stats[name]),
            "slots_filled": statistics.mean(s["slots_filled"] for s in stats[name]),
        }
    for tag in layouts:
        st, fc = result["kinds"][f"{tag}static"], result["kinds"][f"{tag}fcl"]
        result[f"{tag}time_ratio".replace(" ", "_")] = fc["median_s"] / st["median_s"]
        result[f"{tag}cpu_ratio".replace(" ", "_")] = fc["median_cpu_s"] / st["median_cpu_s"]
    st, fc = result["kinds"]["static"], result["kinds"]["fcl"]
    result["pair_ratio"] = fc["pairs_per_atom"] / st["pairs_per_atom"]
    atoms = statistics.mean(b.num_nodes for b in batches)
    print(
        f"\nFCL-MACE training step, {args.frames} X23 frames per batch (~{atoms:.0f} atoms), "
        f"{args.channels} channels, l_max {args.l_max}, hidden l_max {args.hidden_l_max}, "
        f"correlation {args.correlation}, {args.layers} layers, {args.dtype}, "
        f"{args.threads} threads, cutoffs U[{args.r_min}, {args.r_max}] Å vs {args.r_max} Å, "
        f"median of {args.steps} steps each, load average {os.getloadavg()[0]:.1f}"
    )
    print("| step | wall ms | CPU ms | pairs/atom | layout slots filled |")
    print("|---|---:|---:|---:|---:|")
    for name, row in result["kinds"].items():
        print(
            f"| {name} | {1e3 * row['median_s']:.0f} | {1e3 * row['median_cpu_s']:.0f} | "
            f"{row['pairs_per_atom']:.1f} | {row['slots_filled']:.0%} |"
        )
    for tag in layouts:
        key = tag.replace(" ", "_")
        print(
            f"{tag}FCL / static: wall {result[key + 'time_ratio']:.2f}x, CPU "
            f"{result[key + 'cpu_ratio']:.2f}x at {result['pair_ratio']:.2f}x pairs"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: str(v) for k, v in vars(args).items()}
        meta.update(torch=torch.__version__, platform=platform.platform(), atoms=atoms)
        meta.update(load_average=os.getloadavg()[0])
        args.json.write_text(json.dumps({"meta": meta, **result}, indent=1))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
