"""Post-training cutoff optimization: parametrizations, the optimizer, Pareto fronts."""

from .evaluation import evaluate_cutoffs
from .optimizer import CutoffOptimizer, OptimizationResult
from .parametrization import (
    PARAMETRIZATIONS,
    CutoffParametrization,
    GlobalCutoff,
    PerAtomCutoffs,
    PerElementCutoffs,
    make_parametrization,
)
from .pareto import ParetoFront, ParetoPoint

__all__ = [
    "CutoffOptimizer",
    "OptimizationResult",
    "ParetoFront",
    "ParetoPoint",
    "CutoffParametrization",
    "PerElementCutoffs",
    "PerAtomCutoffs",
    "GlobalCutoff",
    "make_parametrization",
    "PARAMETRIZATIONS",
    "evaluate_cutoffs",
]
