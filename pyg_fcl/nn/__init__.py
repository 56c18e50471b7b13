"""Neural-network building blocks for flexible-cutoff models."""

from .autograd import StrainedGeometry, apply_strain, forces_and_stress
from .envelope import CosineEnvelope, PolynomialEnvelope, cosine_envelope, polynomial_envelope

__all__ = [
    "PolynomialEnvelope",
    "CosineEnvelope",
    "polynomial_envelope",
    "cosine_envelope",
    "StrainedGeometry",
    "apply_strain",
    "forces_and_stress",
]
