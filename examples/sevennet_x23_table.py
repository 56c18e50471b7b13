"""Markdown tables of the X23 errors at global cutoffs written by ``examples/sevennet_x23.sh``.

Reads ``DIR/{model}_{set}_{cutoff}.json`` (``pyg-fcl evaluate --json`` output) and prints, per
evaluation set, force RMSE (meV/Å) and energy RMSE (meV/atom) against DFT for every model and
global cutoff found, with the pairs per atom.

    python examples/sevennet_x23_table.py runs/sevennet_x23/eval
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODELS = {
    "zeroshot": "SevenNet-0 (5 Å: as is; below: truncated zero-shot)",
    "finetuned": "SevenNet-0 FCL-fine-tuned (`sevennet0_fcl_x23.pt`)",
    "mace": "small FCL-MACE (`fcl_molcrys_x23.pt`)",
}
SETS = {
    "naph": "held-out crystal 13_naphthalene",
    "test": "test frames of the 20 training crystals",
}


def collect(directory: Path) -> dict:
    """``{(model, set): {cutoff: overall metrics}}`` from the JSON files in ``directory``."""
    table: dict = {}
    for path in sorted(directory.glob("*_*_*.json")):
        model, set_name, cutoff = path.stem.split("_", 2)
        overall = json.loads(path.read_text())["overall"]
        table.setdefault((model, set_name), {})[float(cutoff)] = overall
    return table


def markdown(table: dict) -> str:
    lines = []
    for set_name, title in SETS.items():
        rows = {m: table[(m, set_name)] for m in MODELS if (m, set_name) in table}
        if not rows:
            continue
        cutoffs = sorted({c for r in rows.values() for c in r}, reverse=True)
        some = next(iter(rows.values()))
        n = next(iter(some.values()))
        lines.append(
            f"\n**{title}** ({n['num_structures']} frames, {n['num_atoms']} atoms): force RMSE "
            "(meV/Å) / energy RMSE (meV/atom)\n"
        )
        pairs = {c: next(r[c]["pairs_per_atom"] for r in rows.values() if c in r) for c in cutoffs}
        head = " | ".join(f"{c:g} Å ({pairs[c]:.0f} pairs)" for c in cutoffs)
        lines.append(f"| model | {head} |")
        lines.append("|---" * (len(cutoffs) + 1) + "|")
        for model, row in rows.items():
            cells = []
            for c in cutoffs:
                if c not in row:
                    cells.append("–")
                    continue
                f, e = 1e3 * row[c]["forces_rmse"], 1e3 * row[c]["energy_rmse"]
                cells.append(f"{f:.0f} / {e:.0f}")
            lines.append(f"| {MODELS[model]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory", type=Path, help="folder of pyg-fcl evaluate JSON files")
    args = p.parse_args()
    print(markdown(collect(args.directory)))


if __name__ == "__main__":
    main()
