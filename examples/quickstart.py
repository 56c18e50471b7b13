"""Quickstart: graphs with per-atom cutoffs, a cutoff-flexible model, an ASE calculator.

Runs in under a minute on a laptop CPU (it is also executed by the test suite):

    python examples/quickstart.py
"""

from pathlib import Path

import ase.io
from torch_geometric.data import Batch

import pyg_fcl
from pyg_fcl_models import FCLMACE

DATA = Path(__file__).resolve().parents[1] / "data"


def main() -> None:
    # 1. Read labelled structures (any ASE format) into PyG Data objects.
    frames = pyg_fcl.read_structures(DATA / "molcrys_x23" / "06_benzene.xyz", index="10:14")

    # 2. Search once at r_max, then prune to random per-atom cutoffs (the FCL training step).
    graph = pyg_fcl.FlexibleRadiusGraph(r_max=6.0, edge_rule="mean")
    sampler = pyg_fcl.PerAtomCutoffSampler(r_min=3.0, r_max=6.0, seed=0)
    data = graph(frames[0])  # the r_max search is cached on `data`
    print(f"r_max graph: {data.edge_index.shape[1] / data.num_nodes:.1f} pairs per atom")
    data = graph(sampler(data))  # new cutoffs: pruning only, no new search
    print(f"per-atom cutoffs: {data.edge_index.shape[1] / data.num_nodes:.1f} pairs per atom")

    # 3. A cutoff-flexible model: energy, forces and stress at any per-atom cutoffs.
    model = FCLMACE(r_max=6.0, r_min=3.0, elements=[1, 6], num_channels=8, l_max=2)
    batch = Batch.from_data_list([sampler(f) for f in frames])
    out = model(batch, compute_stress=True)
    print("energies (eV):", out["energy"].detach().numpy().round(3))
    print("forces:", tuple(out["forces"].shape), "stress:", tuple(out["stress"].shape))

    # 4. Deploy in ASE with per-element cutoffs (H 3.5 Å, C 5 Å).
    atoms = ase.io.read(DATA / "molcrys_x23" / "06_benzene.xyz", index=10)
    atoms.calc = pyg_fcl.FCLCalculator(model, cutoffs={"H": 3.5, "C": 5.0})
    print(
        f"ASE energy: {atoms.get_potential_energy():.3f} eV, "
        f"max |F|: {abs(atoms.get_forces()).max():.3f} eV/Å"
    )


if __name__ == "__main__":
    main()
