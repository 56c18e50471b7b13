"""Subset names of the MAD dataset (Massive Atomic Diversity) and a MAD-layout reader.

MAD (Mazitov et al., 2025) stores every structure as an extended-XYZ frame whose
``info["subset"]`` names the subset it comes from. The canonical names are those of
:data:`MAD_SUBSETS`; the MAD-bench files label their frames with the shorter names of
:data:`MAD_BENCH_SUBSETS` (``2d``, ``nanoclusters``, ...), which are a labelling of their own and
are kept distinct from the MAD subset names (``2d`` is not mapped to ``MC2D``).

:func:`normalize_subset` accepts any capitalisation, ``_`` or spaces in place of ``-``, and both
singular and plural spellings (``MC3D-surfaces``, ``mc3d_cluster``, ``nanocluster``), and returns
the one canonical spelling.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from torch_geometric.data import Data

from .atoms import read_structures

__all__ = ["MAD_SUBSETS", "MAD_BENCH_SUBSETS", "normalize_subset", "read_mad"]

#: Canonical subset names of the full MAD dataset.
MAD_SUBSETS: tuple[str, ...] = (
    "MC3D",
    "MC3D-rattled",
    "MC3D-random",
    "MC3D-surface",
    "MC3D-cluster",
    "MC2D",
    "SHIFTML-molcrys",
    "SHIFTML-molfrags",
)

#: Canonical subset labels of the MAD-bench non-bulk frames (``mad_bench_nonbulk.xyz``).
MAD_BENCH_SUBSETS: tuple[str, ...] = ("2d", "nanoclusters", "molecules", "surfaces", "ideal")

# Alternative spellings (after lower-casing and mapping "_" and " " to "-") -> canonical name.
_EXTRA_ALIASES: dict[str, str] = {
    "mc3d-surfaces": "MC3D-surface",
    "mc3d-clusters": "MC3D-cluster",
    "shiftml-molfrag": "SHIFTML-molfrags",
    "shiftml-molcrystal": "SHIFTML-molcrys",
    "shiftml-molcrystals": "SHIFTML-molcrys",
    "nanocluster": "nanoclusters",
    "molecule": "molecules",
    "surface": "surfaces",
}


def _key(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


_ALIASES: dict[str, str] = {
    **{_key(name): name for name in MAD_SUBSETS + MAD_BENCH_SUBSETS},
    **_EXTRA_ALIASES,
}


def normalize_subset(name: str, *, strict: bool = True) -> str:
    """Return the canonical spelling of a MAD or MAD-bench subset name.

    Args:
        name (str): a subset name in any capitalisation, with ``-``, ``_`` or spaces, singular or
            plural (``"mc3d_surfaces"`` -> ``"MC3D-surface"``, ``"Nanocluster"`` ->
            ``"nanoclusters"``).
        strict (bool): if ``True`` an unknown name raises; if ``False`` it is returned unchanged.

    Returns:
        str: the canonical name, one of :data:`MAD_SUBSETS` or :data:`MAD_BENCH_SUBSETS`.

    Raises:
        ValueError: ``name`` is not a known subset name (only when ``strict``); the message lists
            the valid names.
    """
    if not isinstance(name, str):
        raise ValueError(f"subset name must be a string, got {name!r} ({type(name).__name__})")
    canonical = _ALIASES.get(_key(name))
    if canonical is not None:
        return canonical
    if strict:
        raise ValueError(
            f"unknown MAD subset {name!r}; valid names: {', '.join(MAD_SUBSETS)} "
            f"(MAD-bench labels: {', '.join(MAD_BENCH_SUBSETS)})"
        )
    return name


def _collect_files(paths_or_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    items = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".xyz", ".extxyz"))
            if not found:
                raise ValueError(f"directory {str(path)!r} holds no .xyz or .extxyz files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"MAD path {str(path)!r} does not exist")
    if not files:
        raise ValueError("read_mad got no paths")
    return files


def read_mad(
    paths_or_dir: str | os.PathLike | Sequence[str | os.PathLike],
    subsets: str | Iterable[str] | None = None,
    *,
    subset_key: str = "subset",
    **kwargs,
) -> list[Data]:
    """Read MAD-layout extended-XYZ files, optionally keeping only some subsets.

    Every frame must carry its subset name in ``info[subset_key]``; names are normalised with
    :func:`normalize_subset` (labels that are not MAD names are kept as they are, and match no
    filter). Frames are returned file by file (files of a directory in sorted order), in file order.

    Args:
        paths_or_dir: one file, one directory (all ``*.xyz`` / ``*.extxyz`` in it), or a list of
            files and directories.
        subsets: subset names to keep (any spelling :func:`normalize_subset` accepts); ``None``
            keeps all frames.
        subset_key (str): the ``info`` key holding the subset name.
        **kwargs: passed to :func:`~pyg_fcl.data.read_structures` (label keys, ``index``,
            ``allow_missing_forces``, ``dtype``, ...).

    Returns:
        list[Data]: one :class:`~torch_geometric.data.Data` per kept frame, fields as documented
        in :func:`~pyg_fcl.data.read_structures`.

    Raises:
        ValueError: an unknown subset name in ``subsets`` (the message lists the valid ones), a
            path that does not exist, a frame without ``info[subset_key]``, or any error of
            :func:`~pyg_fcl.data.read_structures`.
    """
    wanted: set[str] | None = None
    if subsets is not None:
        names = [subsets] if isinstance(subsets, str) else list(subsets)
        wanted = {normalize_subset(name) for name in names}

    def keep(atoms, source: str, frame: int) -> bool:
        if subset_key not in atoms.info:
            raise ValueError(
                f"{source!r}, frame {frame}: MAD-layout frame has no info[{subset_key!r}] "
                f"(info keys: {sorted(atoms.info)})"
            )
        label = normalize_subset(str(atoms.info[subset_key]), strict=False)
        return wanted is None or label in wanted

    out: list[Data] = []
    for path in _collect_files(paths_or_dir):
        out.extend(
            read_structures(
                path,
                subset_key=subset_key,
                subset_names=_lenient,
                frame_filter=keep,
                **kwargs,
            )
        )
    return out


def _lenient(label: str) -> str:
    """The canonical MAD name of ``label``, or ``label`` itself when it is not a MAD name."""
    return normalize_subset(label, strict=False)
