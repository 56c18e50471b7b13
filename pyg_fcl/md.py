"""ASE molecular dynamics with timing: what ``pyg-fcl md`` runs."""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms

__all__ = ["run_md"]


class _SnapshotWriter:
    """Writes MD snapshots: ASE ``.traj`` by suffix, else unlabelled extended XYZ."""

    def __init__(self, path: str, atoms: Atoms, timestep_fs: float) -> None:
        self.timestep_fs = timestep_fs
        self.traj = None
        if str(path).endswith(".traj"):
            from ase.io.trajectory import Trajectory

            self.traj = Trajectory(path, "w", atoms)
        else:
            self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def write(self, atoms: Atoms, step: int) -> None:
        if self.traj is not None:
            self.traj.write(atoms)
            return
        from ase.io import write

        snapshot = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        snapshot.info.update(step=step, time_fs=step * self.timestep_fs)
        write(self.file, snapshot, format="extxyz")
        self.file.flush()

    def close(self) -> None:
        if self.traj is not None:
            self.traj.close()
        else:
            self.file.close()


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
    save_every: int | None = None,
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
        trajectory (str, optional): file to write snapshots to, every ``save_every`` steps
            (default ``log_every``): an ASE ``.traj`` file, or any other name as extended XYZ
            (positions, cell, pbc, ``info["step"]`` and ``info["time_fs"]``, no labels), which
            :func:`pyg_fcl.read_structures` reads with ``allow_missing_energy`` and
            ``allow_missing_forces`` (e.g. unlabelled structures for ``pyg-fcl distill``).
        save_every (int, optional): steps between snapshots.

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
    every = log_every if save_every is None else int(save_every)
    if every < 1:
        raise ValueError(f"save_every must be >= 1, got {save_every}")
    traj = _SnapshotWriter(trajectory, atoms, timestep_fs) if trajectory else None
    n = len(atoms)
    etot = [atoms.get_potential_energy() + atoms.get_kinetic_energy()]
    times = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        dyn.run(1)
        times.append(time.perf_counter() - start)
        etot.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        if traj is not None and step % every == 0:
            traj.write(atoms, step)
        if step % log_every == 0 or step == steps:
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
