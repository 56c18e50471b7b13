"""Run FCL models inside MD engines: torch-sim (batched) and LAMMPS (``fix external``).

The engine-specific modules import their engine and are loaded on demand:

* :mod:`pyg_fcl.integrations.torchsim` — :class:`~pyg_fcl.integrations.torchsim.FCLTorchSimModel`
  (extra ``[torchsim]``);
* :mod:`pyg_fcl.integrations.lammps` — :class:`~pyg_fcl.integrations.lammps.FCLLammps` and
  ``pyg-fcl lammps`` (extra ``[lammps]``).

What they share is importable from here without either engine: the batched Verlet-skin pair
list and the check of cutoffs against a model.
"""

from .model_cutoffs import per_atom_cutoffs, prepare_cutoffs
from .skin_list import SkinNeighborList

__all__ = ["SkinNeighborList", "prepare_cutoffs", "per_atom_cutoffs"]
