"""Neural-network building blocks for flexible-cutoff models.

- envelopes ``u(r, r_c)`` (:class:`PolynomialEnvelope`, :class:`CosineEnvelope`),
- forces and stress by autograd (:func:`apply_strain`, :func:`forces_and_stress`),
- :class:`FlexibleCutoff`, which makes an existing PyG message-passing MLIP cutoff-flexible,
  with ready adapters :class:`FlexibleSchNet` and :class:`FlexibleViSNet` (imported on first use).
"""

from .._lazy import lazy_names
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

# the adapters build on pyg_fcl.FCLModel, which imports this package: loaded on first use
__getattr__, __dir__ = lazy_names(
    __name__,
    {name: ".adapters" for name in ("FlexiblePyGModel", "FlexibleSchNet", "FlexibleViSNet")},
)
