"""Lazy public names: a package lists where each name lives and imports it on first use.

``import pyg_fcl`` then costs only what is used: the trainer, the optimizer, matplotlib or ASE's
MD are loaded when a name that needs them is first accessed (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_names(package: str, names: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` resolving ``names[name]`` (a relative module).

    Args:
        package (str): the package's ``__name__``.
        names (dict): public name -> module relative to ``package`` (e.g. ``".train"``).
    """

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # cache: later lookups do not come back here
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(names))

    return __getattr__, __dir__
