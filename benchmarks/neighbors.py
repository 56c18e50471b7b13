"""Benchmark the exact periodic neighbour search of ``pyg_fcl.neighbors`` and FCL pruning.

Builds periodic supercells of a shipped molecular crystal (default: the X23 benzene frame) of about
100 to 30,000 atoms and times, at a 6 Å cutoff:

- every installed ``radius_graph`` backend (``brute`` only on small systems),
- vesin called directly (``vesin_torch.NeighborList(...).compute(points, box, True, "ijS")``),
  the unsorted raw search that ``backend="vesin"`` builds on,
- ASE's ``neighbor_list`` (small and medium systems only: it is slow),
- pruning with ``pyg_fcl.transforms.FlexibleRadiusGraph`` (random per-atom cutoffs in
  ``[r_min, r_max]``, mean edge rule) once its ``r_max`` graph is cached, as a fraction of the
  search time of the default backend.

Every backend's edge count is checked against vesin's; a mismatch aborts the run.

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


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time (s) of ``fn()`` over ``repeats`` runs after one warm-up run.

    The minimum, not the mean: on a shared machine, other processes only ever add time.
    """
    out = fn()
    times = []
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        out = fn()
        _sync()
        times.append(time.perf_counter() - start)
    return min(times), out


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
        t, graph = timed(
            lambda name=name: radius_graph(
                pos, args.cutoff, cell=cell[None], pbc=pbc, backend=name
            ),
            args.repeats,
        )
        if graph[0].shape[1] != row["pairs"]:
            raise RuntimeError(f"{name}: {graph[0].shape[1]} edges, vesin {row['pairs']}")
        first = first or graph  # every backend must return the very same tensors
        if not (torch.equal(graph[0], first[0]) and torch.equal(graph[1], first[1])):
            raise RuntimeError(f"{name}: edges differ from {backends[0]}'s")
        row["times"][name] = t
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
    """Times FlexibleRadiusGraph: the first call (search at r_max + cache), then pruning only."""
    from torch_geometric.data import Data

    from pyg_fcl.transforms import FlexibleRadiusGraph

    gen = torch.Generator(device=pos.device).manual_seed(0)
    transform = FlexibleRadiusGraph(args.cutoff, edge_rule="mean")

    def cutoffs():
        u = torch.rand(pos.shape[0], generator=gen, device=pos.device, dtype=pos.dtype)
        return args.r_min + (args.cutoff - args.r_min) * u

    def fresh():
        return Data(pos=pos, cell=cell[None], pbc=pbc, cutoff=cutoffs())

    t_build, _ = timed(lambda: transform(fresh()), max(1, args.repeats // 2))
    data = transform(fresh())
    samples = [cutoffs() for _ in range(args.repeats + 1)]

    def prune():
        data.cutoff = samples.pop()
        return transform(data)

    t_prune, out = timed(prune, args.repeats)
    return {"build": t_build, "prune": t_prune, "edges_kept": int(out.edge_index.shape[1])}


def print_table(rows: list[dict], names: list[str]) -> None:
    cols = ["vesin_direct", "vesin_half"] + names + ["ase"]
    head = ["atoms", "pairs"] + [f"{c} ms" for c in cols]
    head += ["auto / vesin", "prune ms", "prune / search"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for row in rows:
        t = row["times"]
        cells = [f"{row['atoms']}", f"{row['pairs']}"]
        cells += [f"{1e3 * t[c]:.1f}" if c in t else "-" for c in cols]
        auto = t.get("vesin", t.get("brute"))
        cells.append(f"{auto / t['vesin_direct']:.2f}")
        prune = row["prune"]["prune"]
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
    print_table(rows, names)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: str(v) for k, v in vars(args).items()}
        meta.update(torch=torch.__version__, backends=names, platform=platform.platform())
        meta.update(omp_wait_policy=os.environ["OMP_WAIT_POLICY"])
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
