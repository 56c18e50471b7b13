"""Adapters that make PyG's own MLIPs cutoff-flexible FCL models (one backbone per file)."""

from .base import FlexiblePyGModel
from .schnet import FlexibleSchNet
from .visnet import FlexibleViSNet

__all__ = ["FlexiblePyGModel", "FlexibleSchNet", "FlexibleViSNet"]
