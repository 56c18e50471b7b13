"""Helpers for the training tests: tiny real structures (C/H/N/O crystals), a toy model."""

from __future__ import annotations

from pathlib import Path

import torch
from fcl_toy import ToyPairModel

from pyg_fcl import read_structures

DATA = Path(__file__).resolve().parents[2] / "data"
MOLCRYS = DATA / "molcrys_x23"


def tiny_structures(n_per_system: int = 6) -> list:
    """Crystal frames (12 and 16 atoms) of CO2 and ammonia, every 7th frame."""
    out = []
    for name in ("07_co2.xyz", "04_ammonia.xyz"):
        frames = read_structures(MOLCRYS / name)
        crystals = [d for d in frames if d.num_nodes > 4]
        out.extend(crystals[::7][:n_per_system])
    return out


def toy_model(seed: int = 0, **kwargs) -> ToyPairModel:
    torch.manual_seed(seed)
    kwargs.setdefault("r_max", 4.5)
    kwargs.setdefault("r_min", 3.0)
    return ToyPairModel(**kwargs)
