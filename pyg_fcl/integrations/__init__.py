"""Run FCL models inside MD engines: torch-sim (batched) and LAMMPS (``fix external``).

The engine-specific modules import their engine and are loaded on demand:

* :mod:`pyg_fcl.integrations.torchsim` — :class:`~pyg_fcl.integrations.torchsim.FCLTorchSimModel`
  (extra ``[torchsim]``);
* :mod:`pyg_fcl.integrations.lammps` — :class:`~pyg_fcl.integrations.lammps.FCLLammps` and
  ``pyg-fcl lammps`` (extra ``[lammps]``).

What they share is importable from here without either engine: the batched Verlet-skin pair
list and the check of cutoffs against a model.
"""

# the skin list and the cutoff checks are the graph core's (the ASE calculator uses them too)
from ..graph import SkinNeighborList, per_atom_cutoffs, prepare_cutoffs

__all__ = ["SkinNeighborList", "prepare_cutoffs", "per_atom_cutoffs"]
