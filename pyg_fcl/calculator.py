"""ASE calculator for FCL models, with per-atom cutoffs and a Verlet-skin neighbour list.

The neighbour search runs at ``max(cutoff) + skin`` (at most ``r_max + skin``) and is reused
across calls (MD steps): each call recomputes the distances of the listed pairs from the current
positions, keeps those below the largest cutoff as the model's ``r_max`` graph (the cache of
:class:`~pyg_fcl.transforms.FlexibleRadiusGraph`), and the model prunes that to the per-atom
cutoffs. No pair within that cutoff can be missing while no atom has moved more than ``skin / 2``
since the search (a pair's distance changes by at most the sum of the two displacements), so the
model sees exactly the edges it would see with a fresh search. The list is rebuilt when an atom
moved further, when the cutoffs grew, or when the cell, the periodicity or the atoms changed.
(Pairs beyond the largest cutoff are left out of the cache: a model run with ``prune=False``
would only have given them a zero envelope.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress
from torch import Tensor
from torch_geometric.data import Data

from .data import CutoffSpec, load_cutoffs
from .neighbors import radius_graph
from .transforms import compute_edge_cutoff

__all__ = ["FCLCalculator", "run_md"]

CutoffsLike = None | float | Mapping | CutoffSpec | Sequence[float] | np.ndarray | Tensor | str


def _as_spec(cutoffs: CutoffsLike, r_max: float) -> CutoffSpec | None:
    if cutoffs is None or isinstance(cutoffs, CutoffSpec):
        return cutoffs
    if isinstance(cutoffs, str):
        return load_cutoffs(cutoffs)
    if isinstance(cutoffs, (int, float)) and not isinstance(cutoffs, bool):
        return CutoffSpec.uniform(float(cutoffs), r_max=r_max)
    if isinstance(cutoffs, Mapping):
        return CutoffSpec.from_elements(cutoffs, r_max=r_max)
    if isinstance(cutoffs, Tensor):
        return CutoffSpec.from_atoms(cutoffs, r_max=r_max)
    if isinstance(cutoffs, (Sequence, np.ndarray)):
        return CutoffSpec.from_atoms(
            [float(v) for v in np.asarray(cutoffs).reshape(-1)], r_max=r_max
        )
    raise ValueError(
        f"cutoffs must be None, a number, an element mapping, a CutoffSpec, a per-atom array or "
        f"a cutoffs file path; got {type(cutoffs).__name__}"
    )


class FCLCalculator(Calculator):
    """ASE calculator: energy, forces, stress (periodic) and free energy of an FCL model.

    Args:
        model: an FCL model (``r_max``, ``edge_rule``; ``model(data, compute_stress)``).
        cutoffs: ``None`` (``r_max`` everywhere), one global cutoff (float), a mapping element
            (symbol or atomic number) -> cutoff, a :class:`~pyg_fcl.data.CutoffSpec`, a per-atom
            array ``[num_atoms]``, or the path of a cutoffs JSON file. Every cutoff must be in
            ``(0, r_max]``.
        device (str or torch.device): where the model runs.
        skin (float): Verlet skin (Å); the neighbour list is searched at the largest cutoff plus
            ``skin`` and rebuilt once an atom moved more than ``skin / 2``. ``0`` rebuilds on
            every move.
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
        **kwargs: passed to :class:`ase.calculators.calculator.Calculator`.

    Attributes:
        stats (dict): ``calls``, ``builds`` (neighbour searches), ``seconds`` (total in
            :meth:`calculate`), ``last_num_edges`` (edges the model saw in the last call).

    Example::

        atoms.calc = FCLCalculator(load_model("model.pt"), cutoffs={"H": 3.8, "C": 4.6, "O": 4.4})
        atoms.get_forces()
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        model: torch.nn.Module,
        cutoffs: CutoffsLike = None,
        device: str | torch.device = "cpu",
        skin: float = 0.5,
        neighbor_backend: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0, got skin={skin!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.r_max = float(model.r_max)
        self.dtype = next((p.dtype for p in model.parameters()), torch.get_default_dtype())
        self.spec = _as_spec(cutoffs, self.r_max)
        self.skin = float(skin)
        self.neighbor_backend = neighbor_backend
        self._nl: dict | None = None
        self.stats = {"calls": 0, "builds": 0, "seconds": 0.0, "last_num_edges": 0}

    # ------------------------------------------------------------------ cutoffs
    def set_cutoffs(self, cutoffs: CutoffsLike) -> None:
        """Replace the cutoffs (the neighbour list stays valid)."""
        self.spec = _as_spec(cutoffs, self.r_max)
        self.results = {}

    def cutoff_tensor(self, atoms: Atoms) -> Tensor:
        """Per-atom cutoffs ``[num_atoms]`` for ``atoms``.

        A per-atom spec for one cell also applies to supercells made by ``atoms.repeat`` (whole
        copies of the cell, atoms in the same order): its values are tiled.
        """
        n = len(atoms)
        if self.spec is None:
            return torch.full((n,), self.r_max, dtype=self.dtype, device=self.device)
        numbers = torch.as_tensor(atoms.numbers)
        spec = self.spec
        if spec.kind == "atom" and n > len(spec.atoms) and n % len(spec.atoms) == 0:
            # a supercell made by ``atoms.repeat``: copies of the cell, atoms in the same order
            copies = n // len(spec.atoms)
            cell_numbers = numbers[: len(spec.atoms)]
            if torch.equal(numbers, cell_numbers.repeat(copies)):
                cutoff = spec.per_atom(cell_numbers, dtype=torch.float64).repeat(copies)
                return self._checked(cutoff)
        return self._checked(spec.per_atom(numbers, dtype=torch.float64))

    def _checked(self, cutoff: Tensor) -> Tensor:
        bad = cutoff > self.r_max * (1 + 1e-9)
        if bool(bad.any()):
            atom = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"cutoff {float(cutoff[atom])} of atom {atom} exceeds r_max={self.r_max}"
            )
        return cutoff.clamp(max=self.r_max).to(dtype=self.dtype, device=self.device)

    # ------------------------------------------------------------------ neighbour list
    def _needs_rebuild(self, atoms: Atoms, radius: float) -> bool:
        nl = self._nl
        if nl is None:
            return True
        if (
            radius > nl["radius"]
            or len(atoms) != len(nl["numbers"])
            or not np.array_equal(atoms.numbers, nl["numbers"])
            or not np.array_equal(atoms.pbc, nl["pbc"])
            or not np.array_equal(np.asarray(atoms.cell[:]), nl["cell"])
        ):
            return True
        disp = np.linalg.norm(atoms.positions - nl["positions"], axis=1)
        return bool(disp.size and disp.max() > 0.5 * self.skin)

    def _build(self, atoms: Atoms, pos: Tensor, cell: Tensor, pbc: Tensor, radius: float) -> None:
        periodic = bool(pbc.any())
        edge_index, edge_shift = radius_graph(
            pos,
            radius,
            cell=cell if periodic else None,
            pbc=pbc if periodic else None,
            backend=self.neighbor_backend,
        )
        self._nl = {
            "radius": radius,
            "edge_index": edge_index,
            "edge_shift": edge_shift,
            "positions": atoms.positions.copy(),
            "numbers": atoms.numbers.copy(),
            "pbc": atoms.pbc.copy(),
            "cell": np.asarray(atoms.cell[:]).copy(),
        }
        self.stats["builds"] += 1

    def graph_data(self, atoms: Atoms) -> Data:
        """The model input for ``atoms``: fields plus the ``r_max`` graph cache from the skin list.

        The list is searched at ``max(cutoff) + skin`` and the cache holds the pairs closer than
        ``max(cutoff)``: every edge the model keeps under any edge rule, and no more.

        Returns:
            Data: ``z``, ``pos``, ``cell`` ``[1, 3, 3]``, ``pbc`` ``[1, 3]``, ``batch``,
            ``cutoff`` ``[num_atoms]`` and ``rmax_edge_index``, ``rmax_edge_shift``,
            ``rmax_edge_length``, ``rmax_graph_cutoff``.
        """
        pos = torch.as_tensor(atoms.positions, dtype=self.dtype, device=self.device)
        cell = torch.as_tensor(np.asarray(atoms.cell[:]), dtype=self.dtype, device=self.device)
        cell = cell.reshape(1, 3, 3)
        pbc = torch.as_tensor(atoms.pbc, dtype=torch.bool, device=self.device).reshape(1, 3)
        cutoff = self.cutoff_tensor(atoms)
        # Every edge rule gives edge cutoffs <= the largest atom cutoff, so the search and the
        # cached graph only need to reach that (plus the skin), not r_max.
        reach = float(cutoff.max()) if cutoff.numel() else self.r_max
        if self._needs_rebuild(atoms, reach + self.skin):
            self._build(atoms, pos, cell, pbc, reach + self.skin)
        edge_index, edge_shift = self._nl["edge_index"], self._nl["edge_shift"]
        j, i = edge_index
        vec = pos[j] - pos[i]
        if bool(pbc.any()):
            vec = vec + edge_shift.to(self.dtype) @ cell[0]
        length = vec.norm(dim=-1)
        keep = length < reach
        n = len(atoms)
        return Data(
            z=torch.as_tensor(atoms.numbers, dtype=torch.long, device=self.device),
            pos=pos,
            cell=cell,
            pbc=pbc,
            batch=torch.zeros(n, dtype=torch.long, device=self.device),
            cutoff=cutoff,
            rmax_edge_index=edge_index[:, keep],
            rmax_edge_shift=edge_shift[keep],
            rmax_edge_length=length[keep],
            # the graph holds every edge any cutoff <= reach can keep: valid as the r_max cache
            rmax_graph_cutoff=torch.full((1,), self.r_max, dtype=torch.float64, device=self.device),
        )

    # ------------------------------------------------------------------ ASE
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        start = time.perf_counter()
        atoms = self.atoms
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a structure periodic in 3 directions")
        data = self.graph_data(atoms)
        out = self.model(data, compute_stress=want_stress)
        energy = float(out["energy"].detach().reshape(-1)[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().cpu().double().numpy().reshape(-1, 3),
        }
        if want_stress:
            stress = out["stress"].detach().cpu().double().numpy().reshape(3, 3)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        self.stats["calls"] += 1
        self.stats["seconds"] += time.perf_counter() - start
        edge_cutoff = compute_edge_cutoff(data.cutoff, data.rmax_edge_index, self.model.edge_rule)
        self.stats["last_num_edges"] = int((data.rmax_edge_length < edge_cutoff).sum())


def run_md(
    atoms: Atoms,
    steps: int,
    timestep_fs: float = 0.5,
    ensemble: str = "nve",
    temperature: float = 300.0,
    friction: float = 0.01,
    seed: int = 0,
    warmup: int = 3,
    log=None,
    log_every: int = 10,
    trajectory: str | None = None,
) -> dict:
    """Run ASE molecular dynamics on ``atoms`` (its calculator attached) and time every step.

    Velocities are drawn from Maxwell-Boltzmann at ``temperature`` (seeded), without net
    momentum. ``nve`` is velocity Verlet; ``langevin`` is ASE's Langevin thermostat.

    Args:
        atoms (Atoms): the structure, with ``atoms.calc`` set (e.g. :class:`FCLCalculator`).
        steps (int): MD steps.
        timestep_fs (float): time step (fs).
        ensemble (str): ``"nve"`` or ``"langevin"``.
        temperature (float): initial (and Langevin) temperature (K).
        friction (float): Langevin friction (1/fs).
        seed (int): seed of the velocities and the Langevin noise.
        warmup (int): first steps left out of the timing statistics.
        log (callable, optional): called with a progress line every ``log_every`` steps.
        log_every (int): steps between log lines.
        trajectory (str, optional): ASE trajectory file to write every ``log_every`` steps.

    Returns:
        dict: ``steps``, ``seconds_per_step`` (mean after warm-up), ``median_seconds_per_step``,
        ``min_seconds_per_step`` (the fastest step: least disturbed by other processes),
        ``total_seconds``, ``energy_drift_per_atom`` (max ``|E_tot(t) - E_tot(0)|`` / atoms, eV),
        ``final_temperature`` (K), ``etot`` (total energy per step), and the calculator's
        ``stats`` when it has any.
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature, rng=rng)
    Stationary(atoms)
    dt = timestep_fs * units.fs
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=dt)
    elif ensemble == "langevin":
        dyn = Langevin(
            atoms,
            timestep=dt,
            temperature_K=temperature,
            friction=friction / units.fs,
            fixcm=False,
            rng=rng,
        )
    else:
        raise ValueError(f"ensemble {ensemble!r} is not 'nve' or 'langevin'")
    traj = None
    if trajectory:
        from ase.io.trajectory import Trajectory

        traj = Trajectory(trajectory, "w", atoms)
    n = len(atoms)
    etot = [atoms.get_potential_energy() + atoms.get_kinetic_energy()]
    times = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        dyn.run(1)
        times.append(time.perf_counter() - start)
        etot.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        if step % log_every == 0 or step == steps:
            if traj is not None:
                traj.write(atoms)
            if log is not None:
                log(
                    f"step {step}/{steps}: E_tot {etot[-1]:.6f} eV, T "
                    f"{atoms.get_temperature():.1f} K, {times[-1] * 1e3:.1f} ms/step"
                )
    if traj is not None:
        traj.close()
    timed = times[warmup:] if len(times) > warmup else times
    out = {
        "steps": steps,
        "num_atoms": n,
        "ensemble": ensemble,
        "timestep_fs": timestep_fs,
        "seconds_per_step": float(np.mean(timed)),
        "median_seconds_per_step": float(np.median(timed)),
        "min_seconds_per_step": float(np.min(timed)),
        "total_seconds": float(np.sum(times)),
        "energy_drift_per_atom": float(np.max(np.abs(np.array(etot) - etot[0]))) / n,
        "final_temperature": float(atoms.get_temperature()),
        "etot": [float(e) for e in etot],
    }
    stats = getattr(atoms.calc, "stats", None)
    if stats is not None:
        out["stats"] = dict(stats)
    return out
