"""torch-sim integration: an FCL model as a batched ``torch_sim`` model (``ModelInterface``).

torch-sim keeps every system of a simulation in one state: atoms concatenated (``positions``
``[N, 3]``, ``atomic_numbers`` ``[N]``, ``system_idx`` ``[N]``) and one cell per system
(``cell`` ``[S, 3, 3]``, lattice vectors as **columns**; ``state.row_vector_cell`` is the ASE /
PyG convention of rows used here). :class:`FCLTorchSimModel` turns that state into one PyG
``Batch``, runs the model once for all systems and returns ``energy`` ``[S]``, ``forces``
``[N, 3]`` and ``stress`` ``[S, 3, 3]`` (eV/Å³, ASE sign, as torch-sim expects).

The pair list is a Verlet-skin list over the whole batch (:class:`SkinNeighborList`), searched at
the largest cutoff plus the skin and reused across MD steps; torch-sim wraps atoms into the cell
every step, which does not count as a move.

Versions: written against the interface, not a version. torch-sim 0.3 (the last release for
Python 3.11) has ``pbc`` as one bool for the whole state and drops unknown state attributes in
its integrators; 0.6 (Python >= 3.12) has ``pbc`` ``[3]`` and per-atom "extras" that travel with
the state (``ts.io.atoms_to_state(atoms, atom_extras_map={"cutoff": "cutoff"})`` reads
``atoms.arrays["cutoff"]``). Both are handled: cutoffs found on the state (attribute ``cutoff``,
or the ``cutoff`` key of a state dict) win over the ``cutoffs`` given here.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor
from torch_geometric.data import Batch

from ..graph import CutoffsLike, RMaxGraph, SkinNeighborList, per_atom_cutoffs, prepare_cutoffs

try:
    from torch_sim.models.interface import ModelInterface
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "pyg_fcl.integrations.torchsim needs torch-sim: pip install 'pyg-fcl[torchsim]' "
        "(torch-sim-atomistic 0.3 on Python 3.11, >= 0.6 on Python >= 3.12)"
    ) from err

__all__ = ["FCLTorchSimModel"]


def _field(state, key: str):
    if isinstance(state, Mapping):
        return state.get(key)
    try:
        return getattr(state, key)
    except AttributeError:  # torch-sim 0.6 raises for a missing extra
        return None


class FCLTorchSimModel(ModelInterface):
    """An FCL model (any :class:`~pyg_fcl.FCLModel`) as a torch-sim model.

    Args:
        model: the FCL model; it runs in its own dtype and device (make the torch-sim state in
            that dtype, e.g. float64 for energy conservation).
        cutoffs: ``None`` (``r_max``), one global cutoff, ``{element: cutoff}``, a cutoffs file,
            a :class:`~pyg_fcl.graph.CutoffSpec`, or per-atom values ``[N]`` in the order of the
            state's concatenated atoms. Cutoffs carried by the state (``state.cutoff`` ``[N]``)
            take precedence. All in ``[r_min, r_max]`` of the model (below ``r_min`` only with
            ``model.allow_below_r_min = True``).
        compute_stress (bool): also return the stress (periodic systems; NaN for systems not
            periodic in all three directions).
        skin (float): Verlet skin of the pair list (Å); ``0`` searches on every call.
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
        cutoff_key (str): name of the per-atom cutoffs on the state.

    Attributes:
        stats (dict): ``calls``, ``builds`` (neighbour searches), ``last_num_edges``.
        neighbors (SkinNeighborList): the pair list kept across calls.

    Example::

        import torch_sim as ts
        ts_model = FCLTorchSimModel(load_model("model.pt").double(), cutoffs="cutoffs.json")
        state = ts.io.atoms_to_state(list_of_atoms, torch.device("cpu"), torch.float64)
        final = ts.integrate(state, ts_model, integrator=ts.nve, n_steps=1000,
                             temperature=300, timestep=0.0005)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        cutoffs: CutoffsLike = None,
        compute_stress: bool = True,
        *,
        skin: float = 0.5,
        neighbor_backend: str = "auto",
        cutoff_key: str = "cutoff",
    ) -> None:
        super().__init__()
        self.model = model.eval()
        param = next(model.parameters(), None)
        self._device = param.device if param is not None else torch.device("cpu")
        self._dtype = param.dtype if param is not None else torch.get_default_dtype()
        self._compute_stress = bool(compute_stress)
        self._compute_forces = True
        self._memory_scales_with = "n_atoms_x_density"
        self.cutoffs = prepare_cutoffs(cutoffs, model)
        self.cutoff_key = cutoff_key
        self.neighbors = SkinNeighborList(skin, backend=neighbor_backend)
        self.last_num_edges = 0

    @property
    def compute_stress(self) -> bool:
        """Whether stress is returned."""
        return self._compute_stress

    @compute_stress.setter
    def compute_stress(self, value: bool) -> None:
        self._compute_stress = bool(value)

    @property
    def compute_forces(self) -> bool:
        """Forces are always returned."""
        return self._compute_forces

    @compute_forces.setter
    def compute_forces(self, value: bool) -> None:
        if not value:
            raise NotImplementedError("FCLTorchSimModel always computes forces")

    @property
    def stats(self) -> dict:
        """``calls``, ``builds`` (neighbour searches) and ``last_num_edges`` (edges the model
        kept under the cutoffs in the last call, all systems)."""
        return {**self.neighbors.stats, "last_num_edges": self.last_num_edges}

    def set_cutoffs(self, cutoffs: CutoffsLike) -> None:
        """Replace the cutoffs (the pair list stays valid)."""
        self.cutoffs = prepare_cutoffs(cutoffs, self.model)

    def to_batch(self, state) -> Batch:
        """The PyG batch of a torch-sim state (``SimState`` or state dict), with the pair list.

        Returns:
            Batch: ``z`` ``[N]``, ``pos`` ``[N, 3]``, ``cell`` ``[S, 3, 3]`` (rows), ``pbc``
            ``[S, 3]``, ``batch`` ``[N]``, ``cutoff`` ``[N]`` and the ``r_max`` graph cache.
        """
        pos = _field(state, "positions").to(device=self._device, dtype=self._dtype)
        n = pos.size(0)
        z = _field(state, "atomic_numbers").to(device=self._device, dtype=torch.long)
        system_idx = _field(state, "system_idx")
        if system_idx is None:
            system_idx = torch.zeros(n, dtype=torch.long)
        batch = system_idx.to(device=self._device, dtype=torch.long)
        cell = _field(state, "row_vector_cell")
        if cell is None:  # a state dict holds torch-sim's column convention
            cell = _field(state, "cell").reshape(-1, 3, 3).mT
        cell = cell.reshape(-1, 3, 3).to(device=self._device, dtype=self._dtype).contiguous()
        num_graphs = cell.size(0)
        pbc = torch.as_tensor(_field(state, "pbc"), dtype=torch.bool, device=self._device)
        pbc = pbc.reshape(-1, 3) if pbc.numel() % 3 == 0 else pbc.reshape(1, 1).expand(1, 3)
        pbc = (pbc.expand(num_graphs, 3) if pbc.size(0) == 1 else pbc).contiguous()
        given = _field(state, self.cutoff_key)
        cutoff = per_atom_cutoffs(
            self.cutoffs if given is None else given,
            z,
            self.model,
            dtype=self._dtype,
            batch=batch,
            source=f"state.{self.cutoff_key}" if given is not None else "cutoffs",
        )
        counts = torch.bincount(batch, minlength=num_graphs)
        ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        data = Batch(z=z, pos=pos, cell=cell, pbc=pbc, batch=batch, ptr=ptr, cutoff=cutoff)
        data._num_graphs = num_graphs
        reach = float(cutoff.max()) if n else float(self.model.r_max)
        graph = self.neighbors.graph(pos, cell, pbc, batch, z, reach, float(self.model.r_max))
        return graph.attach(data)

    def forward(self, state, **kwargs) -> dict[str, Tensor]:
        """Energy ``[S]``, forces ``[N, 3]`` and (if ``compute_stress``) stress ``[S, 3, 3]``.

        Args:
            state: a torch-sim ``SimState`` (any subclass) or a state dict with ``positions``,
                ``cell`` (columns), ``pbc``, ``atomic_numbers``, ``system_idx``.
            **kwargs: ignored (torch-sim passes integrator options to some models).
        """
        data = self.to_batch(state)
        periodic = data.pbc.all(dim=1)
        want_stress = self._compute_stress and bool(periodic.any())
        with torch.enable_grad():
            out = self.model(data, compute_stress=want_stress)
        out_dtype = _field(state, "positions").dtype
        result = {
            "energy": out["energy"].detach().reshape(-1).to(out_dtype),
            "forces": out["forces"].detach().to(out_dtype),
        }
        if self._compute_stress:
            nan = torch.full((data.num_graphs, 3, 3), float("nan"), dtype=out_dtype)
            stress = out["stress"].detach().to(out_dtype) if want_stress else nan
            result["stress"] = torch.where(periodic.view(-1, 1, 1), stress, nan.to(stress))
        rmax = RMaxGraph.cached(data)
        self.last_num_edges = rmax.num_kept(data.cutoff.detach(), self.model.edge_rule)
        return result
