"""The bad-input corpus: every case is a file or a call, and the message it must give.

``CASES`` lists them. A ``cli`` case runs ``pyg-fcl`` in-process and must exit with ``code``
(1: an error message, 2: a usage error, 0: the input is fine and must not crash), printing a
line that matches ``message``; an ``api`` case calls the library and must raise ``error`` with
a matching message. The files are made by :func:`make_files` from the shipped data. The table in
docs/troubleshooting.md is generated from this list (``python tests/bad_inputs/make_docs.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
MOLCRYS = ROOT / "data" / "molcrys_x23"


@dataclass
class Case:
    """One bad input.

    Attributes:
        id: unique name. topic: table section. what: the input, in words.
        argv: ``pyg-fcl`` arguments (``{name}`` is replaced by the file ``name`` of the corpus).
        call: for ``api`` cases, ``call(files)`` must raise ``error``.
        message: regular expression the message must match.
        code: expected exit code of a ``cli`` case.
    """

    id: str
    topic: str
    what: str
    message: str
    argv: list[str] = field(default_factory=list)
    call: Callable | None = None
    error: type[BaseException] = ValueError
    code: int = 1

    @property
    def kind(self) -> str:
        return "api" if self.call is not None else "cli"


# ------------------------------------------------------------------ files
def _frames() -> list[ase.Atoms]:
    frames = ase.io.read(MOLCRYS / "07_co2.xyz", ":")
    return [a for a in frames if len(a) > 4][:3]


def _write_text_variants(d: Path, good: list[str]) -> None:
    n = int(good[0])
    frame = good[: n + 2]
    (d / "empty.xyz").write_text("")
    (d / "truncated.xyz").write_text("".join(frame * 2 + frame[: n // 2 + 2]))
    (d / "truncated_middle.xyz").write_text("".join(frame + frame[: n // 2 + 2] + frame))
    (d / "garbage.xyz").write_bytes(bytes(range(256)) * 20)
    bad = list(frame)
    bad[3] = "Xx" + bad[3][bad[3].index(" ") :]
    (d / "unknown_symbol.xyz").write_text("".join(frame + bad))
    bad = list(frame)
    fields = bad[4].split()
    fields[1] = "abc"
    bad[4] = " ".join(fields) + "\n"
    (d / "bad_number.xyz").write_text("".join(frame + bad))
    (d / "header_only.xyz").write_text(f"{n}\n\n")
    (d / "two_frames.xyz").write_text("".join(frame * 2))
    (d / "cutoffs_broken.json").write_text("{not json")


def _write_structures(d: Path, base: ase.Atoms) -> None:
    one = base[:1]
    ase.io.write(d / "one_atom.xyz", one, format="extxyz")
    overlap = base.copy()
    overlap.positions[1] = overlap.positions[0] + 0.01
    ase.io.write(d / "overlapping.xyz", overlap, format="extxyz")
    nm = base.copy()
    nm.set_cell(nm.cell[:] / 10)
    ase.io.write(d / "cell_in_nm.xyz", nm, format="extxyz")
    tiny = ase.Atoms("C", positions=[[0, 0, 0]], cell=np.eye(3) * 0.05, pbc=True)
    ase.io.write(d / "tiny_cell.xyz", tiny, format="extxyz")
    far = ase.Atoms("CO", positions=[[0, 0, 0], [6e5, 0, 0]])
    ase.io.write(d / "far_apart.xyz", far, format="extxyz")
    apart = ase.Atoms("CO", positions=[[0, 0, 0], [20, 0, 0]])
    apart.calc = None
    ase.io.write(d / "no_edges.xyz", apart, format="extxyz")
    text = (d / "overlapping.xyz").read_text().splitlines(True)
    fields = text[2].split()
    fields[1] = "nan"
    text[2] = " ".join(fields) + "\n"
    (d / "nan_position.xyz").write_text("".join(text))
    zero = base.copy()
    zero.cell[2] = 0.0
    ase.io.write(d / "zero_lattice_vector.xyz", zero, format="extxyz")
    unlabelled = ase.Atoms(base.numbers, positions=base.positions, cell=base.cell, pbc=True)
    ase.io.write(d / "unlabelled.xyz", unlabelled, format="extxyz")


def _write_checkpoints(d: Path) -> None:
    from fcl_toy import ToyPairModel

    from pyg_fcl import save_model
    from pyg_fcl.checkpoint import CHECKPOINT_VERSION, model_checkpoint

    torch.manual_seed(0)
    model = ToyPairModel(r_max=4.5, r_min=2.5, elements=(6, 8), hidden=8)
    save_model(model, d / "model.pt")
    good = (d / "model.pt").read_bytes()
    (d / "ckpt_random_bytes.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "ckpt_empty.pt").write_bytes(b"")
    (d / "ckpt_truncated.pt").write_bytes(good[: len(good) // 2])
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_model(model, d / "nan_weights.pt")
    ckpt = model_checkpoint(ToyPairModel(r_max=4.5, r_min=2.5, elements=(6, 8), hidden=8))
    ckpt["class"] = "pyg_fcl_corpus_evil:Model"
    torch.save(ckpt, d / "unknown_class.pt")
    (d / "pyg_fcl_corpus_evil.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('IMPORTED').write_text('x')\n"
    )
    ckpt = model_checkpoint(ToyPairModel(r_max=4.5, r_min=2.5, elements=(6, 8), hidden=8))
    ckpt["version"] = CHECKPOINT_VERSION + 1
    torch.save(ckpt, d / "future.pt")
    torch.save({"weights": [1, 2, 3]}, d / "foreign.pt")
    torch.save(argparse.Namespace(payload=1), d / "pickled_object.pt")
    other = ToyPairModel(r_max=4.5, r_min=2.5, elements=(6, 8), hidden=16)
    save_model(other, d / "other_architecture.pt")


def _write_front(d: Path) -> None:
    from pyg_fcl.graph import CutoffSpec
    from pyg_fcl.optim import ParetoFront, ParetoPoint

    metrics = {"pairs_per_atom": 10.0, "forces_rmse": 0.3}
    points = [
        ParetoPoint(lam, CutoffSpec.from_elements({"C": c, "O": c}), dict(metrics), dict(metrics))
        for lam, c in ((1e-2, 3.0), (1e-3, 4.0))
    ]
    ParetoFront(points, dict(metrics)).save(d / "front.json")


def make_files(d: Path) -> dict[str, str]:
    """Write every corpus file into ``d``; returns name -> path (also the shipped ``co2``)."""
    base = _frames()[0]
    ase.io.write(d / "co2.xyz", _frames(), format="extxyz")
    _write_text_variants(d, (d / "co2.xyz").read_text().splitlines(True))
    _write_structures(d, base)
    _write_checkpoints(d)
    _write_front(d)
    files = {p.name.rsplit(".", 1)[0]: str(p) for p in d.iterdir() if p.is_file()}
    files.update(dir=str(d), missing=str(d / "missing.xyz"), missing_pt=str(d / "missing.pt"))
    return files


# ------------------------------------------------------------------ API calls
def _read(name: str, **kw):
    def call(f):
        from pyg_fcl import read_structures

        return read_structures(f[name], **kw)

    return call


def _load(name: str):
    def call(f):
        from pyg_fcl import load_model

        return load_model(f[name])

    return call


def _radius_graph_tiny_cell(f):
    from pyg_fcl import radius_graph

    return radius_graph(torch.zeros(1, 3), 5.0, cell=torch.eye(3) * 0.05)


def _radius_graph_flat_cell(f):
    from pyg_fcl import radius_graph

    return radius_graph(torch.zeros(2, 3), 5.0, cell=torch.diag(torch.tensor([1e5, 1e5, 1.0])))


def _calculator(atoms_fn, **kw):
    def call(f):
        from pyg_fcl import FCLCalculator, load_model

        atoms = atoms_fn(f)
        atoms.calc = FCLCalculator(load_model(f["model"]), **kw)
        return atoms.get_potential_energy()

    return call


def _co2(f):
    return ase.io.read(f["co2"], index=0)


def _no_atoms(f):
    return ase.Atoms(cell=np.eye(3) * 5, pbc=True)


def _overlapping(f):
    return ase.io.read(f["overlapping"])


def _evaluate_bad_group(f):
    from pyg_fcl import evaluate, load_model, read_structures

    return evaluate(load_model(f["model"]), read_structures(f["co2"]), 4.0, group_by="typo")


# ------------------------------------------------------------------ the cases
def _with(base: list[str], extra: tuple[str, ...]) -> list[str]:
    """``base`` with ``extra`` options added; an option already in ``base`` takes the new
    value (so the documented command shows each option once)."""
    out = list(base)
    k = 0
    while k < len(extra):
        option, value = extra[k], extra[k + 1] if k + 1 < len(extra) else None
        single = value is not None and not value.startswith("--")
        if (
            option.startswith("--")
            and option in out
            and single
            and (k + 2 >= len(extra) or extra[k + 2].startswith("--"))
        ):
            out[out.index(option) + 1] = value
            k += 2
            continue
        out.append(option)
        k += 1
    return out


def _md(*extra: str) -> list[str]:
    return _with(["md", "--model", "{model}", "--structure", "{co2}", "--steps", "2"], extra)


def _evaluate(*extra: str) -> list[str]:
    return _with(["evaluate", "--model", "{model}", "--data", "{co2}", "--no-progress"], extra)


def _train(*extra: str) -> list[str]:
    base = [
        "train",
        "--train",
        "{co2}",
        "--model-factory",
        "fcl_toy:ToyPairModel",
        "--r-min",
        "3",
        "--r-max",
        "4.5",
        "--max-steps",
        "1",
        "--no-progress",
        "--device",
        "cpu",
    ]
    return _with(base, extra)


_NOT_CKPT = "not a pyg-fcl model checkpoint"

CASES: list[Case] = [
    # ---- structure files
    Case(
        "empty_file",
        "structure files",
        "an empty file",
        r"empty file \(no frames\)",
        ["graph", "{empty}"],
    ),
    Case(
        "truncated_last_frame",
        "structure files",
        "the last frame cut short",
        r"frame 2 \(line 29\): the header says 12 atoms but only 6 atom lines follow",
        ["evaluate", "--model", "{model}", "--data", "{truncated}"],
    ),
    Case(
        "truncated_middle_frame",
        "structure files",
        "a frame cut short in the middle",
        r"frame 1 \(line 15\): .*looks like the next frame's header",
        ["graph", "{truncated_middle}"],
    ),
    Case(
        "binary_garbage",
        "structure files",
        "random binary data named .xyz",
        r"frame 0: cannot be read \(binary data",
        ["graph", "{garbage}"],
    ),
    Case(
        "unknown_symbol",
        "structure files",
        "an unknown chemical symbol (Xx)",
        r"frame 1: cannot be read \(unknown chemical symbol or key 'Xx'\)",
        ["graph", "{unknown_symbol}", "--frame", "1"],
    ),
    Case(
        "bad_number",
        "structure files",
        "a coordinate that is not a number",
        r"frame 1: cannot be read \(ValueError: could not convert string to float",
        ["graph", "{bad_number}", "--frame", "1"],
    ),
    Case(
        "header_only",
        "structure files",
        "a header without atom lines",
        r"frame 0 \(line 1\): the header says 12 atoms but only 0",
        ["graph", "{header_only}"],
    ),
    Case(
        "frame_out_of_range",
        "structure files",
        "--frame past the last frame",
        r"frame index 5 is out of range; the file has 2 frame\(s\)",
        ["graph", "{two_frames}", "--frame", "5"],
    ),
    Case(
        "frame_out_of_range_md",
        "structure files",
        "md --index past the last frame",
        r"frame index 7 is out of range",
        _md("--index", "7"),
    ),
    Case(
        "missing_structure_file",
        "structure files",
        "a structure file that does not exist",
        r"(not found|does not exist|No such file)",
        _md("--structure", "{missing}"),
    ),
    Case(
        "missing_labels",
        "structure files",
        "training data without energy/forces",
        r"no energy label under key 'energy'.*present keys",
        _train("--train", "{unlabelled}", "--out", "{dir}/run_unlabelled"),
    ),
    Case(
        "bad_index_syntax",
        "structure files",
        "read_structures(index='a:b')",
        r"index 'a:b' is neither a frame number nor a slice",
        call=_read("co2", index="a:b"),
        error=ValueError,
    ),
    # ---- physically impossible structures
    Case(
        "non_finite_position",
        "impossible structures",
        "a NaN coordinate",
        r"atom 0: non-finite position",
        ["graph", "{nan_position}"],
    ),
    Case(
        "overlapping_atoms",
        "impossible structures",
        "two atoms 0.017 Å apart",
        r"atoms 0 and 1 are 0.01732 Å apart, closer than 0.1 Å",
        ["graph", "{overlapping}"],
    ),
    Case(
        "overlapping_atoms_md",
        "impossible structures",
        "md on overlapping atoms",
        r"closer than 0.1 Å",
        _md("--structure", "{overlapping}"),
    ),
    Case(
        "cell_in_nm",
        "impossible structures",
        "a cell given in nm, positions in Å",
        r"atoms/Å\^3, more than 1; .*is the cell in nm instead of Å\?",
        ["graph", "{cell_in_nm}"],
    ),
    Case(
        "tiny_cell",
        "impossible structures",
        "one atom in a 0.05 Å periodic cell",
        r"8e\+03 atoms/Å\^3",
        ["graph", "{tiny_cell}"],
    ),
    Case(
        "tiny_cell_search",
        "impossible structures",
        "radius_graph of one atom in a 0.05 Å cell (4 million neighbours)",
        r"would give about 4.19e\+06 neighbours per atom",
        call=_radius_graph_tiny_cell,
    ),
    Case(
        "flat_periodic_cell",
        "impossible structures",
        "a 1e5 x 1e5 x 1 Å periodic cell",
        r"too anisotropic for a cell-list search",
        call=_radius_graph_flat_cell,
    ),
    Case(
        "zero_lattice_vector",
        "impossible structures",
        "a periodic direction with a zero vector",
        r"periodic direction 2 has a zero lattice vector",
        ["graph", "{zero_lattice_vector}"],
    ),
    Case(
        "far_apart_no_crash",
        "impossible structures",
        "two atoms 6e5 Å apart, non-periodic (vesin used to die with SIGFPE)",
        r"0 edges",
        ["graph", "{far_apart}", "--r-max", "5"],
        code=0,
    ),
    Case(
        "no_atoms_calculator",
        "impossible structures",
        "FCLCalculator on a structure with no atoms",
        r"the structure has no atoms",
        call=_calculator(_no_atoms),
    ),
    Case(
        "overlapping_calculator",
        "impossible structures",
        "FCLCalculator on overlapping atoms",
        r"closer than 0.1 Å",
        call=_calculator(_overlapping),
    ),
    Case(
        "one_atom_md",
        "impossible structures",
        "md on a single atom",
        r"MD needs at least 2 atoms, got 1",
        _md("--structure", "{one_atom}"),
    ),
    # ---- checkpoints
    Case(
        "ckpt_random_bytes",
        "checkpoints",
        "random bytes named .pt",
        _NOT_CKPT,
        _md("--model", "{ckpt_random_bytes}"),
    ),
    Case(
        "ckpt_empty",
        "checkpoints",
        "an empty .pt file",
        r"empty file, " + _NOT_CKPT,
        _evaluate("--model", "{ckpt_empty}"),
    ),
    Case(
        "ckpt_truncated",
        "checkpoints",
        "a checkpoint cut in half",
        r"not a readable pyg-fcl model checkpoint \(truncated or corrupted",
        _md("--model", "{ckpt_truncated}"),
    ),
    Case(
        "ckpt_nan_weights",
        "checkpoints",
        "a checkpoint with NaN weights",
        r"weights are not finite: .* NaN/Inf entries",
        _md("--model", "{nan_weights}"),
    ),
    Case(
        "ckpt_unknown_class",
        "checkpoints",
        "a checkpoint naming a module that is not imported (no import side effects may run)",
        r"is not a known pyg-fcl model; refusing to import 'pyg_fcl_corpus_evil'",
        _md("--model", "{unknown_class}"),
    ),
    Case(
        "ckpt_future_version",
        "checkpoints",
        "a checkpoint of a newer pyg-fcl",
        r"newer than this pyg-fcl",
        _md("--model", "{future}"),
    ),
    Case(
        "ckpt_foreign",
        "checkpoints",
        "a torch.save file of something else",
        r"no format marker",
        call=_load("foreign"),
    ),
    Case(
        "ckpt_pickled_object",
        "checkpoints",
        "a pickled Python object",
        r"holds Python objects other than tensors and plain values; refused",
        call=_load("pickled_object"),
    ),
    Case(
        "ckpt_missing",
        "checkpoints",
        "a checkpoint that does not exist",
        r"model checkpoint not found",
        _md("--model", "{missing_pt}"),
    ),
    # ---- cutoffs
    Case(
        "cutoff_below_r_min",
        "cutoffs",
        "md --cutoff below the trained r_min",
        r"below the model's trained r_min=2.5.*allow",
        _md("--cutoff", "1.0"),
    ),
    Case(
        "cutoff_below_r_min_evaluate",
        "cutoffs",
        "evaluate --cutoff below the trained r_min",
        r"below the model's trained r_min",
        _evaluate("--cutoff", "1.0"),
    ),
    Case(
        "cutoff_above_r_max",
        "cutoffs",
        "md --cutoff above r_max",
        r"= 9.0 is not in \(0, r_max=4.5\]",
        _md("--cutoff", "9"),
    ),
    Case(
        "cutoff_zero",
        "cutoffs",
        "evaluate --cutoff 0",
        r"argument --cutoff: must be > 0",
        _evaluate("--cutoff", "0"),
        code=2,
    ),
    Case(
        "cutoffs_file_missing",
        "cutoffs",
        "a cutoffs file that does not exist",
        r"missing\.json",
        _md("--cutoffs", "{dir}/missing.json"),
    ),
    Case(
        "cutoffs_file_not_json",
        "cutoffs",
        "a cutoffs file that is not JSON",
        r"cutoffs_broken\.json",
        _md("--cutoffs", "{cutoffs_broken}"),
    ),
    Case(
        "front_without_lambda",
        "cutoffs",
        "a Pareto front as --cutoffs without --lambda",
        r"Pareto front with 2 points; choose one with --lambda \(one of 0.01, 0.001\)",
        _md("--cutoffs", "{front}"),
    ),
    Case(
        "front_unknown_lambda",
        "cutoffs",
        "--lambda that the front does not hold",
        r"has no point at lambda=0.05; it has 0.01, 0.001",
        _md("--cutoffs", "{front}", "--lambda", "5e-2"),
    ),
    Case(
        "lambda_without_front",
        "cutoffs",
        "--lambda without --cutoffs",
        r"--lambda picks a point of a Pareto front",
        _md("--lambda", "1e-3"),
    ),
    # ---- md options
    Case(
        "md_dt_nan",
        "md options",
        "--dt nan",
        r"argument --dt: 'nan' is not a finite number",
        _md("--dt", "nan"),
        code=2,
    ),
    Case(
        "md_dt_zero",
        "md options",
        "--dt 0",
        r"argument --dt: must be > 0",
        _md("--dt", "0"),
        code=2,
    ),
    Case(
        "md_dt_negative",
        "md options",
        "--dt -1",
        r"argument --dt: must be > 0",
        _md("--dt", "-1"),
        code=2,
    ),
    Case(
        "md_negative_temperature",
        "md options",
        "--temperature -5",
        r"argument --temperature: must be >= 0",
        _md("--temperature", "-5"),
        code=2,
    ),
    Case(
        "md_log_every_zero",
        "md options",
        "--log-every 0",
        r"argument --log-every: must be >= 1",
        _md("--log-every", "0"),
        code=2,
    ),
    Case(
        "md_supercell_zero",
        "md options",
        "--supercell 0 0 0",
        r"argument --supercell: must be >= 1",
        _md("--supercell", "0", "0", "0"),
        code=2,
    ),
    Case(
        "md_steps_zero",
        "md options",
        "--steps 0",
        r"argument --steps: must be >= 1",
        _md("--steps", "0"),
        code=2,
    ),
    Case(
        "md_index_not_a_number",
        "md options",
        "--index abc",
        r"--index must be one frame number",
        _md("--index", "abc"),
    ),
    # ---- evaluate / optimize options
    Case(
        "evaluate_group_by_typo",
        "evaluate and optimize",
        "--group-by sytem",
        r"argument --group-by: invalid choice: 'sytem'",
        _evaluate("--group-by", "sytem"),
        code=2,
    ),
    Case(
        "evaluate_group_by_typo_api",
        "evaluate and optimize",
        "evaluate(group_by='typo')",
        r"group_by",
        call=_evaluate_bad_group,
    ),
    Case(
        "evaluate_batch_size_zero",
        "evaluate and optimize",
        "--batch-size 0",
        r"argument --batch-size: must be >= 1",
        _evaluate("--batch-size", "0"),
        code=2,
    ),
    Case(
        "evaluate_empty_data",
        "evaluate and optimize",
        "--data of an empty file",
        r"empty file",
        _evaluate("--data", "{empty}"),
    ),
    Case(
        "optimize_no_edges",
        "evaluate and optimize",
        "a structure without any pair within r_max",
        r"no pair of atoms lies within r_max = 4.5 Å.*no edges to optimize",
        [
            "optimize",
            "--model",
            "{model}",
            "--data",
            "{no_edges}",
            "--lambdas",
            "1e-3",
            "--reference",
            "model",
        ],
    ),
    Case(
        "optimize_negative_lambda",
        "evaluate and optimize",
        "--lambdas -1",
        r"argument --lambdas: must be >= 0",
        ["optimize", "--model", "{model}", "--data", "{co2}", "--lambdas", "-1"],
        code=2,
    ),
    # ---- training
    Case(
        "train_r_max_zero",
        "training",
        "--r-max 0 (used to train at 6 Å)",
        r"argument --r-max: must be > 0",
        _train("--r-max", "0", "--out", "{dir}/run0"),
        code=2,
    ),
    Case(
        "train_existing_run",
        "training",
        "--out of an existing run, no --resume/--overwrite",
        r"already holds a training run \(last.pt.*--resume .*--overwrite",
        _train("--out", "{dir}/existing"),
    ),
    Case(
        "train_val_cutoffs_out_of_range",
        "training",
        "--val-cutoffs beyond r_max",
        r"--val-cutoffs \[9.0\] lie outside the trained range",
        _train("--val-cutoffs", "9", "--out", "{dir}/run1"),
    ),
    Case(
        "train_r_min_above_r_max",
        "training",
        "--r-min 5 --r-max 4.5",
        r"--r-min 5.0 must be smaller than --r-max 4.5",
        _train("--r-min", "5", "--out", "{dir}/run2"),
    ),
    Case(
        "train_model_kwargs_json",
        "training",
        "--model-kwargs that is not JSON",
        r"--model-kwargs is not valid JSON",
        _train("--model-kwargs", "{hidden: 8}", "--out", "{dir}/run3"),
    ),
    Case(
        "train_model_kwargs_unknown",
        "training",
        "--model-kwargs the model does not take",
        r"do not fit fcl_toy:ToyPairModel",
        _train("--model-kwargs", '{"hiden": 8}', "--out", "{dir}/run4"),
    ),
    Case(
        "train_init_from_other_architecture",
        "training",
        "--init-from of another architecture",
        r"the weights do not fit this model",
        _train(
            "--model-kwargs",
            '{"hidden": 8}',
            "--init-from",
            "{other_architecture}",
            "--out",
            "{dir}/run5",
        ),
    ),
    Case(
        "train_resume_without_state",
        "training",
        "--resume of a model saved by save_model",
        r"holds no training state",
        _train("--resume", "{model}", "--out", "{dir}/run6"),
    ),
    Case(
        "train_out_not_writable",
        "training",
        "--out under a file",
        r"is not writable",
        _train("--out", "{co2}/run"),
    ),
    Case(
        "train_val_fraction",
        "training",
        "--val-fraction 1.5",
        r"--val-fraction must be in \(0, 1\)",
        _train("--val-fraction", "1.5", "--out", "{dir}/run7"),
    ),
    Case(
        "train_non_finite_loss",
        "training",
        "a learning rate that makes the loss NaN",
        r"non-finite (loss|gradient) at epoch",
        _train(
            "--lr",
            "1e30",
            "--max-steps",
            "20",
            "--grad-clip",
            "0",
            "--ema-decay",
            "0",
            "--out",
            "{dir}/run8",
        ),
    ),
]
