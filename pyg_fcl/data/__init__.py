"""Reading structures (extended XYZ, MAD layout, any ASE format) and per-atom cutoff files."""

from ..graph.cutoff_spec import CutoffSpec, load_cutoffs, save_cutoffs
from .atoms import atoms_to_data, data_to_atoms, read_structures
from .mad import MAD_BENCH_SUBSETS, MAD_SUBSETS, normalize_subset, read_mad
from .pack import pack_structures
from .packed import PackedDataset
from .sanity import MAX_DENSITY, MIN_DISTANCE, check_data, check_structure

__all__ = [
    "read_structures",
    "atoms_to_data",
    "data_to_atoms",
    "read_mad",
    "normalize_subset",
    "MAD_SUBSETS",
    "MAD_BENCH_SUBSETS",
    "CutoffSpec",
    "load_cutoffs",
    "save_cutoffs",
    "pack_structures",
    "PackedDataset",
    "check_structure",
    "check_data",
    "MIN_DISTANCE",
    "MAX_DENSITY",
]
