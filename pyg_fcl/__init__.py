"""pyg-fcl: Flexible Cutoff Learning for machine-learning interatomic potentials on PyG.

The public API. Everything importable from here is stable; submodules hold the details.
"""

from .calculator import FCLCalculator, run_md
from .checkpoint import load_model, save_model
from .cost import DifferentiableCostModel, TimeCalibration
from .data import (
    MAD_BENCH_SUBSETS,
    MAD_SUBSETS,
    CutoffSpec,
    atoms_to_data,
    data_to_atoms,
    load_cutoffs,
    normalize_subset,
    read_mad,
    read_structures,
    save_cutoffs,
)
from .evaluate import evaluate
from .model import FCLModel
from .neighbors import available_backends, edge_vectors, radius_graph
from .nn import (
    CosineEnvelope,
    FlexibleCutoff,
    FlexibleSchNet,
    FlexibleViSNet,
    PolynomialEnvelope,
    apply_strain,
    forces_and_stress,
)
from .optim import CutoffOptimizer, ParetoFront, ParetoPoint
from .train import TrainConfig, Trainer
from .transforms import (
    EDGE_RULES,
    FlexibleRadiusGraph,
    PerAtomCutoffSampler,
    compute_edge_cutoff,
    validate_cutoff,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # neighbour lists and graphs
    "radius_graph",
    "edge_vectors",
    "available_backends",
    "FlexibleRadiusGraph",
    "PerAtomCutoffSampler",
    "compute_edge_cutoff",
    "validate_cutoff",
    "EDGE_RULES",
    # nn
    "PolynomialEnvelope",
    "CosineEnvelope",
    "apply_strain",
    "forces_and_stress",
    "FlexibleCutoff",
    "FlexibleSchNet",
    "FlexibleViSNet",
    # models
    "FCLModel",
    "save_model",
    "load_model",
    # training and evaluation
    "Trainer",
    "TrainConfig",
    "evaluate",
    # cost and cutoff optimization
    "DifferentiableCostModel",
    "TimeCalibration",
    "CutoffOptimizer",
    "ParetoFront",
    "ParetoPoint",
    # deployment
    "FCLCalculator",
    "run_md",
    # data
    "read_structures",
    "atoms_to_data",
    "data_to_atoms",
    "read_mad",
    "normalize_subset",
    "MAD_SUBSETS",
    "MAD_BENCH_SUBSETS",
    "CutoffSpec",
    "load_cutoffs",
    "save_cutoffs",
]
