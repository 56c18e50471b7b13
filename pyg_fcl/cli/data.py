"""``pyg-fcl data``: datasets on disk.

``pyg-fcl data pack IN.xyz [IN2.xyz ...] OUT.h5`` streams structures with their labels into one
packed dataset (HDF5; optionally with every structure's ``r_max`` neighbour list), which
``pyg-fcl train``, ``evaluate`` and ``distill`` read lazily wherever they take data files:
memory then stays flat however large the dataset. The file is written under a temporary name
and renamed when complete. ``pyg-fcl data info OUT.h5`` prints what a packed file holds.
"""

from __future__ import annotations

import argparse

_EXAMPLES = """examples:
  pyg-fcl data pack data/mad_sample/train.xyz runs/train.h5
  pyg-fcl data pack mad/*.xyz --graph-r-max 7 mad_train.h5       # also store r_max graphs
  pyg-fcl data pack x23.xyz --energy-key REF_energy --forces-key REF_forces x23.h5
  pyg-fcl data info mad_train.h5
  pyg-fcl train --train mad_train.h5 --val-fraction 0.05 --r-min 3.5 --r-max 7 --out runs/mad
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "data",
        help="pack structures into an on-disk dataset (lazy, random access)",
        description=__doc__,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", metavar="action", required=True)
    pack = sub.add_parser(
        "pack",
        help="stream ASE-readable files into one packed dataset (.h5)",
        description=__doc__,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pack.add_argument("paths", nargs="+", metavar="PATH", help="input files, then the output .h5")
    pack.add_argument(
        "--graph-r-max", type=float, help="also store each structure's neighbour list at this Å"
    )
    pack.add_argument("--neighbor-backend", default="auto", help="search backend (default auto)")
    pack.add_argument("--energy-key", default="energy", help="energy label key (default energy)")
    pack.add_argument("--forces-key", default="forces", help="forces label key (default forces)")
    pack.add_argument("--stress-key", default="stress", help="stress label key (default stress)")
    pack.add_argument("--allow-missing-forces", action="store_true")
    pack.add_argument("--allow-missing-energy", action="store_true")
    pack.add_argument("--format", help="ASE format of the inputs (default: from the name)")
    pack.add_argument("--no-progress", action="store_true", help="no progress bar")
    pack.set_defaults(run=run_pack)
    info = sub.add_parser("info", help="print what a packed dataset holds")
    info.add_argument("path", help="packed dataset (.h5)")
    info.set_defaults(run=run_info)
    return p


def run_pack(args) -> int:
    from ..data.pack import pack_structures

    if len(args.paths) < 2:
        raise ValueError("pyg-fcl data pack needs input files and then the output file")
    *inputs, out = args.paths
    if not out.endswith((".h5", ".hdf5")):
        raise ValueError(f"output {out!r} should end in .h5 (the last PATH is the output)")
    summary = pack_structures(
        inputs,
        out,
        graph_r_max=args.graph_r_max,
        neighbor_backend=args.neighbor_backend,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        stress_key=args.stress_key,
        allow_missing_forces=args.allow_missing_forces,
        allow_missing_energy=args.allow_missing_energy,
        format=args.format,
        progress=not args.no_progress,
    )
    graphs = f", {summary['num_edges']} edges" if args.graph_r_max else ""
    print(
        f"packed {summary['num_frames']} structures ({summary['num_atoms']} atoms{graphs}, "
        f"elements {summary['elements']}) into {out}"
    )
    return 0


def run_info(args) -> int:
    from ..data.packed import PackedDataset

    dataset = PackedDataset(args.path)
    print(repr(dataset))
    print(f"  elements: {dataset.elements}")
    print(f"  label keys: {dataset.label_keys}")
    return 0
