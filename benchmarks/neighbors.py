"""Benchmark the exact periodic neighbour search of ``pyg_fcl.neighbors`` and FCL pruning.

Builds periodic supercells of a shipped molecular crystal (default: the X23 benzene frame) of about
100 to 30,000 atoms and times, at a 6 Å cutoff:

- every installed ``radius_graph`` backend (``brute`` only on small systems) with its default,
  unsorted output, and the default backend with ``sort=True`` (the canonical order),
- vesin called directly (``vesin_torch.NeighborList(...).compute(points, box, True, "ijS")``),
  the unsorted raw search that ``backend="vesin"`` builds on,
- ASE's ``neighbor_list`` (small and medium systems only: it is slow),
- pruning the cached ``r_max`` graph to random per-atom cutoffs in ``[r_min, r_max]`` (mean edge
  rule), as a fraction of the default search: the library's path
  (``pyg_fcl.transforms.FlexibleRadiusGraph`` on a ``Data`` whose graph is cached),
  ``pyg_fcl.neighbors.prune_edges`` on a cache with float32 length bounds and int8 shifts, and
  ``prune_pairs`` on a cache of pairs (``radius_graph(half=True)``, whose search is timed too).

Every backend's edge count is checked against vesin's, the sorted tensors of every backend must be
identical, and both pruning paths must keep the same edges; a mismatch aborts the run.

Each time is the best of ``--repeats`` runs, as wall-clock time and as CPU time of the process
(all threads): on a shared machine the CPU time is the steadier measure of the work done.

Examples:
    python benchmarks/neighbors.py                       # default sizes, table on stdout
    python benchmarks/neighbors.py --sizes 100 1000 --repeats 5
    python benchmarks/neighbors.py --crystal 13_naphthalene --cutoff 5 --json out/nl.json
    python benchmarks/neighbors.py --device cuda --no-ase   # on a GPU machine
"""

from __future__ import annotations

import os

# Spinning OpenMP threads (torch's and vesin's pools take turns) dominate timings on a shared or
# oversubscribed machine: measured 10x slower medians on 2 busy cores. Passive waiting unless the
# caller chose otherwise; must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "molcrys_x23"
DEFAULT_SIZES = [100, 300, 1000, 3000, 10000, 30000]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("Examples:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--crystal", default="06_benzene", help="X23 file stem (default benzene)")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="folder of the X23 .xyz files")
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="atom counts")
    parser.add_argument("--cutoff", type=float, default=6.0, help="search radius r_max (Å)")
    parser.add_argument("--r-min", type=float, default=3.5, help="smallest per-atom cutoff (Å)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (best of)")
    parser.add_argument("--max-brute", type=int, default=3000, help="largest size for brute")
    parser.add_argument("--max-ase", type=int, default=3000, help="largest size for ASE")
    parser.add_argument("--no-ase", action="store_true", help="skip ASE")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    return parser.parse_args()


def crystal_frame(path: Path):
    """The first periodic frame of the file holding more than one molecule."""
    from ase.io import read

    frames = read(path, index=":")
    periodic = [f for f in frames if f.pbc.all() and f.info.get("config_stress_weight", 1) != 0]
    return max(periodic or frames, key=len)


def supercell(atoms, target: int):
    """Near-cubic repetition of ``atoms`` with the atom count closest to ``target``.

    Grows the shortest supercell direction one step at a time and keeps the repetition whose
    size is nearest to ``target`` (by ratio).
    """
    reps, best = [1, 1, 1], [1, 1, 1]
    lengths = atoms.cell.lengths()

    def size(r):
        return len(atoms) * r[0] * r[1] * r[2]

    while size(reps) < target:
        k = min(range(3), key=lambda d: lengths[d] * reps[d])
        reps[k] += 1
        if abs(math.log(size(reps) / target)) < abs(math.log(size(best) / target)):
            best = list(reps)
    return atoms.repeat(best), best


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> tuple[dict, object]:
    """Best wall and CPU time (s) of ``fn()`` over ``repeats`` runs after one warm-up run.

    The minimum, not the mean: on a shared machine, other processes only ever add time.

    Returns:
        tuple[dict, object]: ``{"wall": s, "cpu": s}`` and the last result.
    """
    out = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        _sync()
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        _sync()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall": min(wall), "cpu": min(cpu)}, out


def bench_size(atoms, args, backends) -> dict:
    from ase.neighborlist import neighbor_list
    from vesin_torch import NeighborList

    from pyg_fcl.neighbors import radius_graph

    dtype = getattr(torch, args.dtype)
    pos = torch.tensor(atoms.positions, dtype=dtype, device=args.device)
    cell = torch.tensor(atoms.cell.array, dtype=dtype, device=args.device)
    pbc = torch.ones(1, 3, dtype=torch.bool, device=args.device)
    n = len(atoms)
    row = {"atoms": n, "times": {}}
    calc = NeighborList(cutoff=args.cutoff, full_list=True)
    pos64, cell64 = pos.double(), cell.double()
    t, (i, _, _) = timed(lambda: calc.compute(pos64, cell64, True, "ijS"), args.repeats)
    row["times"]["vesin_direct"] = t
    row["pairs"] = int(i.shape[0])
    # the half list (each pair once) that backend="vesin" asks vesin for
    half = NeighborList(cutoff=args.cutoff, full_list=False)
    t, _ = timed(lambda: half.compute(pos64, cell64, True, "ijSd"), args.repeats)
    row["times"]["vesin_half"] = t
    first = None
    for name in backends:
        if name == "brute" and n > args.max_brute:
            continue

        def search(name=name, sort=False):
            return radius_graph(pos, args.cutoff, cell=cell[None], pbc=pbc, backend=name, sort=sort)

        t, graph = timed(search, args.repeats)
        if graph[0].shape[1] != row["pairs"]:
            raise RuntimeError(f"{name}: {graph[0].shape[1]} edges, vesin {row['pairs']}")
        row["times"][name] = t
        ordered = search(sort=True)
        first = first or ordered  # every backend must return the very same sorted tensors
        if not (torch.equal(ordered[0], first[0]) and torch.equal(ordered[1], first[1])):
            raise RuntimeError(f"{name}: sorted edges differ from the first backend's")
    t, _ = timed(lambda: radius_graph(pos, args.cutoff, cell=cell[None], pbc=pbc, sort=True),
                 args.repeats)  # fmt: skip
    row["times"]["auto_sorted"] = t
    t, pairs = timed(lambda: radius_graph(pos, args.cutoff, cell=cell[None], pbc=pbc, half=True),
                     args.repeats)  # fmt: skip
    if 2 * pairs[0].shape[1] != row["pairs"]:
        raise RuntimeError(f"half list: {pairs[0].shape[1]} pairs for {row['pairs']} edges")
    row["times"]["auto_half"] = t
    if not args.no_ase and n <= args.max_ase:
        t, (i,) = timed(
            lambda: (neighbor_list("i", atoms, args.cutoff),), max(1, args.repeats // 2)
        )
        if len(i) != row["pairs"]:
            raise RuntimeError(f"ASE: {len(i)} pairs, vesin {row['pairs']}")
        row["times"]["ase"] = t
    row["prune"] = bench_prune(pos, cell, pbc, args)
    return row


def bench_prune(pos, cell, pbc, args) -> dict:
    """Times pruning a cached r_max graph: the library's transform, and ``prune_edges``."""
    from torch_geometric.data import Data

    from pyg_fcl import RMaxGraph, compute_edge_cutoff
    from pyg_fcl.neighbors import (
        compact_shift,
        edge_vectors,
        length_lower_bound,
        prune_edges,
        prune_pairs,
        radius_graph,
    )
    from pyg_fcl.transforms import FlexibleRadiusGraph

    gen = torch.Generator(device=pos.device).manual_seed(0)
    transform = FlexibleRadiusGraph(args.cutoff, edge_rule="mean")

    def cutoffs():
        u = torch.rand(pos.shape[0], generator=gen, device=pos.device, dtype=pos.dtype)
        return args.r_min + (args.cutoff - args.r_min) * u

    data = transform(Data(pos=pos, cell=cell[None], pbc=pbc, cutoff=cutoffs()))
    samples = [cutoffs() for _ in range(args.repeats + 1)]
    fast_samples, samples_copy = list(samples), list(samples)

    def library():
        data.cutoff = samples.pop()
        return transform(data)

    t_library, out = timed(library, args.repeats)
    # the cache as prune_edges wants it: float32 length bounds and compact shifts
    rmax = RMaxGraph.cached(data)
    edge_index, lengths = rmax.edge_index, rmax.edge_length
    shift, bound = compact_shift(rmax.edge_shift), length_lower_bound(lengths)

    def rule(c, e):
        return compute_edge_cutoff(c, e, "mean")

    def fast():
        return prune_edges(edge_index, shift, lengths, fast_samples.pop(), rule, bound)

    t_fast, kept = timed(fast, args.repeats)
    if not torch.equal(kept[0], out.edge_index):
        raise RuntimeError("prune_edges kept other edges than the library's pruning")
    # a cache of pairs (each once): one decision per pair, both directions written
    pairs, pair_shift = radius_graph(pos, args.cutoff, cell=cell[None], pbc=pbc, half=True)
    pair_length = edge_vectors(pos, pairs, pair_shift, cell[None]).norm(dim=-1)
    pair_shift, pair_bound = compact_shift(pair_shift), length_lower_bound(pair_length)
    pair_samples = list(samples_copy)

    def pairs_fast():
        return prune_pairs(pairs, pair_shift, pair_length, pair_samples.pop(), rule, pair_bound)

    t_pairs, kept_pairs = timed(pairs_fast, args.repeats)
    check = prune_pairs(pairs, pair_shift, pair_length, samples_copy[0], rule, pair_bound)
    ref = prune_edges(edge_index, shift, lengths, samples_copy[0], rule, bound)
    if check[0].shape[1] != ref[0].shape[1]:
        raise RuntimeError("prune_pairs kept another number of edges than prune_edges")
    return {
        "library": t_library,
        "prune_edges": t_fast,
        "prune_pairs": t_pairs,
        "edges_kept": int(kept[0].shape[1]),
        "pair_edges_kept": int(kept_pairs[0].shape[1]),
    }


def print_table(rows: list[dict], names: list[str], clock: str) -> None:
    cols = ["vesin_direct", "vesin_half"] + names + ["auto_sorted", "auto_half", "ase"]
    head = ["atoms", "pairs"] + [f"{c} ms" for c in cols]
    head += ["auto / vesin", "sorted / vesin", "half / vesin", "prune ms", "prune / search"]
    head += ["prune_edges ms", "prune_edges / search", "prune_pairs ms", "prune_pairs / search"]
    print(f"\n{clock} time")
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for row in rows:
        t = {k: v[clock] for k, v in row["times"].items()}
        cells = [f"{row['atoms']}", f"{row['pairs']}"]
        cells += [f"{1e3 * t[c]:.1f}" if c in t else "-" for c in cols]
        auto = t.get("vesin", t.get("brute"))
        cells.append(f"{auto / t['vesin_direct']:.2f}")
        cells.append(f"{t['auto_sorted'] / t['vesin_direct']:.2f}")
        cells.append(f"{t['auto_half'] / t['vesin_direct']:.2f}")
        for key in ("library", "prune_edges", "prune_pairs"):
            prune = row["prune"][key][clock]
            cells += [f"{1e3 * prune:.1f}", f"{prune / auto:.1%}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    args = _parse()
    from pyg_fcl.neighbors import available_backends

    try:
        from tqdm import tqdm
    except ImportError:  # progress bar is optional

        def tqdm(x, **_):
            return x

    names = available_backends()
    base = crystal_frame(args.data_dir / f"{args.crystal}.xyz")
    rows = []
    for target in tqdm(args.sizes, desc="sizes"):
        atoms, reps = supercell(base, target)
        row = bench_size(atoms, args, names)
        row["repeat"] = reps
        rows.append(row)
    print(
        f"\n{args.crystal} supercells, cutoff {args.cutoff} Å, {args.dtype}, device {args.device}, "
        f"{torch.get_num_threads()} torch threads, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {platform.machine()}"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for clock in ("wall", "cpu"):
        print_table(rows, names, clock)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: str(v) for k, v in vars(args).items()}
        meta.update(torch=torch.__version__, backends=names, platform=platform.platform())
        meta.update(omp_wait_policy=os.environ["OMP_WAIT_POLICY"], load_average=os.getloadavg())
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
