"""Imports cost only what is used: no trainer, optimizer, matplotlib or ASE MD on import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pyg_fcl.train", "pyg_fcl.optim", "matplotlib", "ase.md", "pyg_fcl.cli.train")


STATEMENTS = [
    "import pyg_fcl",
    "from pyg_fcl import FCLModel, FlexibleRadiusGraph, resolve_cutoffs, FCLCalculator",
    "import pyg_fcl_models",
    "from pyg_fcl_models import FCLMACE",
]


def test_imports_load_nothing_heavy():
    """One fresh interpreter runs the statements in turn and lists what each left loaded."""
    code = "import json, sys\nseen = []\n"
    for statement in STATEMENTS:
        code += f"{statement}\nseen.append([m for m in {list(HEAVY)!r} if m in sys.modules])\n"
    code += "print(json.dumps(seen))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert dict(zip(STATEMENTS, loaded)) == {s: [] for s in STATEMENTS}


def test_lazy_names_resolve_and_are_listed():
    import pyg_fcl

    for name in pyg_fcl.__all__:
        assert getattr(pyg_fcl, name) is not None, name
    assert set(pyg_fcl.__all__) <= set(dir(pyg_fcl))
    assert callable(pyg_fcl.evaluate)  # the function, not the submodule of the same name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pyg_fcl.nope  # noqa: B018


def test_the_generic_reader_does_not_import_mad():
    """data/atoms.py (any ASE-readable file) knows nothing of MAD's subsets: no import cycle."""
    import ast
    from pathlib import Path

    import pyg_fcl.data.atoms as atoms

    tree = ast.parse(Path(atoms.__file__).read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in imported if m.endswith("mad")}, imported
