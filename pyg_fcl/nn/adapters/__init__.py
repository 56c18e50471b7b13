"""Adapters that make existing MLIPs cutoff-flexible FCL models (one backbone per file): PyG's
own SchNet and ViSNet, and pretrained SevenNet models (``sevenn``, optional extra)."""

from .base import FlexiblePyGModel
from .schnet import FlexibleSchNet
from .sevennet import FlexibleSevenNet
from .visnet import FlexibleViSNet

__all__ = ["FlexiblePyGModel", "FlexibleSchNet", "FlexibleViSNet", "FlexibleSevenNet"]
