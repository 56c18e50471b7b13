"""Metrics files of a run: ``metrics.json`` (full history) and ``metrics.csv`` (one row per
validation), both rewritten atomically from the history after every epoch."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text

__all__ = ["flatten_record", "write_metrics", "epoch_line"]


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """One history record as flat CSV columns.

    Validation metrics become ``val@<cutoff>/<subset>/<metric>`` (``overall`` for all subsets).
    """
    flat = {k: v for k, v in record.items() if not isinstance(v, (dict, list))}
    for key, value in record.get("train", {}).items():
        flat[f"train/{key}"] = value
    for cutoff, result in record.get("val", {}).items():
        groups = {"overall": result["overall"], **result.get("subsets", {})}
        for group, metrics in groups.items():
            for name, value in metrics.items():
                flat[f"val@{cutoff}/{group}/{name}"] = value
    return flat


def write_metrics(out_dir: str | os.PathLike, history: list[dict], header: dict) -> None:
    """Write ``metrics.json`` (``header`` plus ``history``) and ``metrics.csv`` into ``out_dir``."""
    out = Path(out_dir)
    atomic_write_text(out / "metrics.json", json.dumps({**header, "history": history}, indent=1))
    rows = [flatten_record(r) for r in history]
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    atomic_write_text(out / "metrics.csv", buffer.getvalue())


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """The one-line summary printed after every epoch: train loss, and the validation errors at
    each validation cutoff (meV/atom, meV/Å) with the pairs per atom."""
    where = f"epoch {record['epoch']}/{epochs}" + (" (partial)" if record["partial_epoch"] else "")
    parts = [f"{where}, step {record['global_step']}: train loss {record['train']['loss']:.4g}"]
    for cutoff, result in (record.get("val") or {}).items():
        m = result["overall"]
        text = f"val @ {cutoff} Å:"
        if m.get("energy_rmse") is not None:
            text += f" E RMSE {1000 * m['energy_rmse']:.1f} meV/atom"
        if m.get("forces_rmse") is not None:
            text += f" F RMSE {1000 * m['forces_rmse']:.1f} meV/Å"
        if m.get("pairs_per_atom") is not None:
            text += f" ({m['pairs_per_atom']:.1f} pairs/atom)"
        parts.append(text)
    return " | ".join(parts)
