"""Write ``naphthalene.data`` (LAMMPS data file, atom types 1 = C, 2 = H) for the LAMMPS example.

The structure is frame 10 of ``data/molcrys_x23/13_naphthalene.xyz`` (the first crystal frame;
naphthalene is held out of the pretrained model's training). Run from the repository root::

    python examples/lammps/make_data.py
"""

from pathlib import Path

from ase.io import read, write

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "data" / "molcrys_x23" / "13_naphthalene.xyz"


def main() -> None:
    atoms = read(SOURCE, index=10)
    atoms.calc = None
    write(
        HERE / "naphthalene.data",
        atoms,
        format="lammps-data",
        specorder=["C", "H"],  # type 1 = C, type 2 = H: pyg-fcl lammps --elements C H
        masses=True,
        units="metal",
        atom_style="atomic",
    )
    print(f"wrote {HERE / 'naphthalene.data'}: {len(atoms)} atoms, cell {atoms.cell.cellpar()}")


if __name__ == "__main__":
    main()
