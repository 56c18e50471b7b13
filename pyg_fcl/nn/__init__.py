"""Neural-network building blocks for flexible-cutoff models.

- envelopes ``u(r, r_c)`` (:class:`PolynomialEnvelope`, :class:`CosineEnvelope`),
- forces and stress by autograd (:func:`apply_strain`, :func:`forces_and_stress`),
- :class:`FlexibleCutoff`, which makes an existing PyG message-passing MLIP cutoff-flexible,
  with ready adapters :class:`FlexibleSchNet` and :class:`FlexibleViSNet`.
"""

from .adapters import FlexiblePyGModel, FlexibleSchNet, FlexibleViSNet
from .autograd import StrainedGeometry, apply_strain, forces_and_stress
from .cutoff_embedding import CutoffEmbedding
from .envelope import CosineEnvelope, PolynomialEnvelope, cosine_envelope, polynomial_envelope
from .fcl_graph import GRAPH_FIELDS, FCLGraph
from .flexible_cutoff import FlexibleCutoff

__all__ = [
    "PolynomialEnvelope",
    "CosineEnvelope",
    "polynomial_envelope",
    "cosine_envelope",
    "StrainedGeometry",
    "apply_strain",
    "forces_and_stress",
    "FlexibleCutoff",
    "FCLGraph",
    "CutoffEmbedding",
    "GRAPH_FIELDS",
    "FlexiblePyGModel",
    "FlexibleSchNet",
    "FlexibleViSNet",
]
