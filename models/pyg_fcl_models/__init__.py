"""Reference backbones for pyg-fcl (import name ``pyg_fcl_models``).

They use only the public API of :mod:`pyg_fcl`.

- :class:`FCLMACE`: MACE-style equivariant model conditioned on per-atom cutoffs.
"""

from .coupling import symmetric_coupling_basis
from .mace import FCLMACE
from .symmetric_contraction import SymmetricContraction

__all__ = ["FCLMACE", "SymmetricContraction", "symmetric_coupling_basis"]
