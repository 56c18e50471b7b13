"""pyg-fcl: Flexible Cutoff Learning for machine-learning interatomic potentials on PyG."""

__version__ = "0.1.0"

__all__ = ["__version__"]
