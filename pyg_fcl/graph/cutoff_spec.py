"""Cutoffs files: a global cutoff, one per element, or one per atom of a named structure.

A cutoffs file (``C.json``) is what ``pyg-fcl optimize`` writes and what ``evaluate``, ``md`` and
the ASE calculator read. It is a JSON object::

    {
      "format": "pyg-fcl-cutoffs",     # required, exactly this string
      "version": 1,                    # required; files of a newer version are refused
      "kind": "global" | "element" | "atom",
      "value": 4.5,                    # kind "global": one cutoff (Å)
      "elements": {"H": 3.2, "O": 4.8},# kind "element": element symbol (or atomic number,
                                       #   e.g. "8") -> cutoff (Å)
      "atoms": [3.2, 4.8, ...],        # kind "atom": one cutoff per atom, in structure order
      "numbers": [1, 8, ...],          # optional, kind "atom": atomic numbers the list is for
      "structure": "ice.xyz",          # optional: name of the structure the cutoffs are for
      "edge_rule": "mean",             # optional: edge rule the cutoffs were chosen under
      "r_max": 6.0,                    # optional: every cutoff must lie in (0, r_max]
      "meta": {...}                    # optional: free-form JSON object (provenance, lambda, ...)
    }

Exactly one of ``value`` / ``elements`` / ``atoms`` is present, the one of ``kind``. Every cutoff
is a finite number in ``(0, r_max]`` (``(0, inf)`` without ``r_max``). Unknown keys are errors.
:func:`~pyg_fcl.graph.resolve_cutoffs` turns a spec (or anything else a user passes) into the
per-atom tensor ``data.cutoff`` ``[num_nodes]``.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from ase.data import atomic_numbers, chemical_symbols
from torch import Tensor

from .._atomic import atomic_write_text, read_json
from .edge_rules import EDGE_RULES

__all__ = ["CutoffSpec", "load_cutoffs", "save_cutoffs", "CUTOFFS_FORMAT", "CUTOFFS_VERSION"]

CUTOFFS_FORMAT = "pyg-fcl-cutoffs"
CUTOFFS_VERSION = 1
_KINDS = {"global": "value", "element": "elements", "atom": "atoms"}
_OPTIONAL = ("numbers", "structure", "edge_rule", "r_max", "meta")
_MAX_Z = 118


def _cutoff(value: Any, what: str, r_max: float | None) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what}: cutoff must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0 or (r_max is not None and value > r_max):
        interval = f"(0, {r_max}]" if r_max is not None else "(0, inf)"
        raise ValueError(f"{what}: cutoff {value!r} outside {interval}")
    return value


def _element(key: Any) -> int:
    """Atomic number from an integer, a numeric string or an element symbol (any case)."""
    if isinstance(key, str):
        text = key.strip()
        z = int(text) if text.isdigit() else atomic_numbers.get(text.capitalize(), 0)
    elif isinstance(key, bool):
        z = 0
    else:
        try:
            z = operator.index(key)
        except TypeError:
            z = 0
    if not 1 <= z <= _MAX_Z:
        raise ValueError(f"unknown element {key!r} (use a symbol like 'O' or an atomic number)")
    return z


@dataclass(frozen=True)
class CutoffSpec:
    """Per-atom cutoffs as stored in a cutoffs file (format in the module docstring).

    Build one with :meth:`uniform`, :meth:`from_elements` or :meth:`from_atoms`.

    Attributes:
        kind (str): ``"global"``, ``"element"`` or ``"atom"``.
        value (float, optional): the global cutoff (kind ``"global"``).
        elements (dict[int, float], optional): atomic number -> cutoff (kind ``"element"``).
        atoms (tuple[float, ...], optional): one cutoff per atom (kind ``"atom"``).
        numbers (tuple[int, ...], optional): atomic numbers the per-atom list belongs to;
            :meth:`per_atom` checks them when given.
        structure (str, optional): name of the structure the cutoffs are for.
        edge_rule (str, optional): edge rule the cutoffs were chosen under.
        r_max (float, optional): upper bound every cutoff respects.
        meta (dict): free-form JSON-serialisable provenance.
    """

    kind: str
    value: float | None = None
    elements: dict[int, float] | None = None
    atoms: tuple[float, ...] | None = None
    numbers: tuple[int, ...] | None = None
    structure: str | None = None
    edge_rule: str | None = None
    r_max: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"cutoff kind {self.kind!r} is not one of {sorted(_KINDS)}")
        if getattr(self, _KINDS[self.kind]) is None:
            raise ValueError(f"cutoff kind {self.kind!r} needs {_KINDS[self.kind]!r}")
        for kind, name in _KINDS.items():
            if kind != self.kind and getattr(self, name) is not None:
                raise ValueError(f"cutoff kind {self.kind!r} must not have {name!r}")
        r_max = None
        if self.r_max is not None:
            r_max = _cutoff(self.r_max, "r_max", None)
        set_ = object.__setattr__
        set_(self, "r_max", r_max)
        if self.kind == "global":
            set_(self, "value", _cutoff(self.value, "global cutoff", r_max))
        elif self.kind == "element":
            if not isinstance(self.elements, Mapping) or not self.elements:
                raise ValueError(
                    f"per-element cutoffs must be a non-empty mapping: {self.elements!r}"
                )
            table: dict[int, float] = {}
            for key, value in self.elements.items():
                z = _element(key)
                if z in table:
                    raise ValueError(f"element {chemical_symbols[z]} (Z={z}) given twice")
                table[z] = _cutoff(value, f"element {chemical_symbols[z]}", r_max)
            set_(self, "elements", dict(sorted(table.items())))
        else:
            if isinstance(self.atoms, (str, bytes)) or not isinstance(self.atoms, Sequence):
                raise ValueError(f"per-atom cutoffs must be a list, got {self.atoms!r}")
            if len(self.atoms) == 0:
                raise ValueError("per-atom cutoff list is empty")
            set_(
                self,
                "atoms",
                tuple(_cutoff(v, f"atom {i}", r_max) for i, v in enumerate(self.atoms)),
            )
        if self.numbers is not None:
            if self.kind != "atom":
                raise ValueError(f"'numbers' only goes with kind 'atom', not {self.kind!r}")
            if len(self.numbers) != len(self.atoms):
                raise ValueError(
                    f"'numbers' has {len(self.numbers)} entries but 'atoms' {len(self.atoms)}"
                )
            set_(self, "numbers", tuple(_element(z) for z in self.numbers))
        if self.edge_rule is not None and self.edge_rule not in EDGE_RULES:
            raise ValueError(f"edge_rule {self.edge_rule!r} is not one of {EDGE_RULES}")
        if self.structure is not None and not isinstance(self.structure, str):
            raise ValueError(f"structure must be a string, got {self.structure!r}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict, got {self.meta!r}")

    @classmethod
    def uniform(cls, value: float, **kwargs: Any) -> CutoffSpec:
        """One cutoff for every atom (kind ``"global"``); ``kwargs`` are the optional fields."""
        return cls(kind="global", value=value, **kwargs)

    @classmethod
    def from_elements(cls, elements: Mapping[str | int, float], **kwargs: Any) -> CutoffSpec:
        """One cutoff per element, keyed by symbol (``"O"``) or atomic number (``8``)."""
        return cls(kind="element", elements=dict(elements), **kwargs)

    @classmethod
    def from_atoms(cls, values: Sequence[float] | Tensor, **kwargs: Any) -> CutoffSpec:
        """One cutoff per atom of a structure (kind ``"atom"``); ``values`` list or ``[N]``."""
        if isinstance(values, Tensor):
            values = values.detach().cpu().double().reshape(-1).tolist()
        return cls(kind="atom", atoms=tuple(values), **kwargs)

    def per_atom(self, z: Tensor | Sequence[int], *, dtype: torch.dtype | None = None) -> Tensor:
        """Per-atom cutoffs for a structure with atomic numbers ``z``.

        Args:
            z (Tensor or list[int]): atomic numbers ``[num_nodes]``.
            dtype (torch.dtype, optional): default ``torch.get_default_dtype()``.

        Returns:
            Tensor: cutoffs ``[num_nodes]`` on the device of ``z``.

        Raises:
            ValueError: an element without a cutoff (named, with an atom index), or a per-atom
                list whose length (or ``numbers``) does not match ``z``.
        """
        dtype = torch.get_default_dtype() if dtype is None else dtype
        z = torch.as_tensor(z, dtype=torch.long).reshape(-1)
        if self.kind == "global":
            return torch.full(z.shape, self.value, dtype=dtype, device=z.device)
        if self.kind == "element":
            table = torch.full((_MAX_Z + 1,), math.nan, dtype=torch.float64)
            for number, value in self.elements.items():
                table[number] = value
            if z.numel() and (int(z.min()) < 1 or int(z.max()) > _MAX_Z):
                atom = int(torch.nonzero((z < 1) | (z > _MAX_Z))[0])
                raise ValueError(f"atom {atom}: invalid atomic number {int(z[atom])}")
            out = table[z.cpu()]
            missing = torch.isnan(out)
            if missing.any():
                atom = int(torch.nonzero(missing)[0])
                number = int(z[atom])
                have = ", ".join(chemical_symbols[n] for n in self.elements)
                raise ValueError(
                    f"no cutoff for element {chemical_symbols[number]} (Z={number}, atom {atom}); "
                    f"the cutoffs cover {have}"
                )
            return out.to(dtype=dtype, device=z.device)
        where = f" (structure {self.structure!r})" if self.structure else ""
        if len(self.atoms) != z.numel():
            raise ValueError(
                f"per-atom cutoffs{where} list {len(self.atoms)} atoms, structure has {z.numel()}"
            )
        if self.numbers is not None:
            mismatch = torch.nonzero(z.cpu() != torch.tensor(self.numbers)).reshape(-1)
            if mismatch.numel():
                atom = int(mismatch[0])
                raise ValueError(
                    f"per-atom cutoffs{where}: atom {atom} is Z={self.numbers[atom]} in the "
                    f"cutoffs file but Z={int(z[atom])} in the structure"
                )
        return torch.tensor(self.atoms, dtype=dtype, device=z.device)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the file format (elements keyed by symbol)."""
        out: dict[str, Any] = {"format": CUTOFFS_FORMAT, "version": CUTOFFS_VERSION}
        out["kind"] = self.kind
        if self.kind == "global":
            out["value"] = self.value
        elif self.kind == "element":
            out["elements"] = {chemical_symbols[z]: v for z, v in self.elements.items()}
        else:
            out["atoms"] = list(self.atoms)
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None and value != {}:
                out[name] = list(value) if name == "numbers" else value
        return out

    @classmethod
    def from_dict(cls, obj: Any, source: str = "cutoffs") -> CutoffSpec:
        """Parse and validate the JSON object of the file format; errors name ``source``."""
        if not isinstance(obj, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(obj).__name__}")
        if obj.get("format") != CUTOFFS_FORMAT:
            raise ValueError(
                f"{source}: 'format' is {obj.get('format')!r}, expected {CUTOFFS_FORMAT!r}"
            )
        version = obj.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"{source}: invalid 'version' {version!r}")
        if version > CUTOFFS_VERSION:
            raise ValueError(
                f"{source}: cutoffs file version {version} is newer than this pyg-fcl reads "
                f"({CUTOFFS_VERSION})"
            )
        kind = obj.get("kind")
        if kind not in _KINDS:
            raise ValueError(f"{source}: 'kind' is {kind!r}, expected one of {sorted(_KINDS)}")
        allowed = {"format", "version", "kind", *_KINDS.values(), *_OPTIONAL}
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; allowed: {sorted(allowed)}")
        fields = {k: obj[k] for k in (*_KINDS.values(), *_OPTIONAL) if k in obj}
        if isinstance(fields.get("atoms"), list):
            fields["atoms"] = tuple(fields["atoms"])
        try:
            return cls(kind=kind, **fields)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


def load_cutoffs(path: str | os.PathLike) -> CutoffSpec:
    """Read a cutoffs file.

    Args:
        path (str or PathLike): a JSON file in the format of the module docstring.

    Returns:
        CutoffSpec: the validated cutoffs.

    Raises:
        ValueError: the file is missing, not JSON, or not a valid cutoffs file (names the file).
    """
    obj = read_json(path, "cutoffs file")
    return CutoffSpec.from_dict(obj, source=repr(os.fspath(path)))


def save_cutoffs(spec: CutoffSpec, path: str | os.PathLike) -> None:
    """Write a cutoffs file atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        spec (CutoffSpec): the cutoffs.
        path (str or PathLike): destination; an existing file is replaced only once the new one
            is completely written.
    """
    try:
        text = json.dumps(spec.to_dict(), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cutoffs for {os.fspath(path)!r} are not JSON-serialisable: {err}"
        ) from None
    atomic_write_text(path, text)
