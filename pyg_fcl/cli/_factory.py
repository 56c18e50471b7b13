"""Model factories given on the command line as ``module:callable``."""

from __future__ import annotations

import importlib

__all__ = ["DEFAULT_FACTORY", "load_factory"]

#: the reference model (pyg_fcl_models ships in the source tree's models/ directory)
DEFAULT_FACTORY = "pyg_fcl_models:FCLMACE"


def load_factory(spec: str):
    """Import ``module:callable``; a clear error when the module is missing."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--model-factory must look like 'module:callable', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        hint = (
            " (the reference model ships in pyg-fcl's models/ directory; install pyg-fcl from "
            "its source tree with `pip install -e .`, or pass --model-factory / --model-init)"
            if spec == DEFAULT_FACTORY
            else ""
        )
        raise ValueError(f"cannot import model factory {spec!r}: {err}{hint}") from err
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise ValueError(f"module {module_name!r} has no {attr!r}") from err
