"""Label-free FCL distillation: a frozen *teacher* labels the structures the student trains on.

The teacher is a model at its own full cutoff: any pyg-fcl checkpoint run at its ``r_max``, or a
pretrained SevenNet (``"7net-0"``, through :class:`pyg_fcl.nn.adapters.FlexibleSevenNet`) at its
5 Å. Its energies, forces and (for periodic structures) stress are computed **once** per
structure, kept in memory for the whole run, and optionally written to a file next to the run
(``teacher_labels_train.pt``, ``teacher_labels_val.pt``) so that a resumed run reads them instead
of running the teacher again. The file records fingerprints of the teacher (class, config,
weights) and of the structures (species, positions, cell, pbc); a file that does not match is
recomputed and replaced.

The :class:`~pyg_fcl.Trainer` then trains the student exactly as with DFT labels (per-atom
cutoffs sampled as in FCL, the same losses); structures need no labels of their own, and any
labels they carry are replaced by the teacher's. Validation structures are labelled by the
teacher too, so the validation errors are deviations from the teacher.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..checkpoint import atomic_torch_save, load_model, read_checkpoint
from ..model import FCLModel
from ..transforms import FlexibleRadiusGraph
from .batches import describe

__all__ = [
    "distillation_sets",
    "load_teacher",
    "teacher_predictions",
    "cached_teacher_predictions",
    "with_teacher_labels",
    "fingerprint_model",
    "fingerprint_structures",
]

LABELS_FORMAT = "pyg-fcl-teacher-labels"
LABELS_VERSION = 1
SEVENNET_NAMES = ("7net-0", "sevennet-0", "7net-0_11july2024", "sevennet-0_11july2024")


def load_teacher(
    spec: str | os.PathLike | FCLModel, device: str | torch.device = "cpu"
) -> FCLModel:
    """The teacher model from a name, a checkpoint path or a model.

    Args:
        spec: an :class:`~pyg_fcl.FCLModel` (used as is); a pyg-fcl checkpoint path; a SevenNet
            name such as ``"7net-0"`` or a sevenn checkpoint path (through
            ``FlexibleSevenNet.from_pretrained``, which needs the ``[sevenn]`` extra).
        device: where a loaded teacher is put.

    Returns:
        FCLModel: the teacher, in eval mode.

    Raises:
        ValueError: the spec is neither a file nor a known pretrained name, or the SevenNet
            adapter is not available.
    """
    if isinstance(spec, FCLModel):
        return spec.eval()
    text = str(spec)
    path = Path(text)
    if path.is_file():
        try:
            read_checkpoint(path)
        except ValueError:
            pass  # not a pyg-fcl checkpoint: maybe a sevenn one
        else:
            return load_model(path, map_location=device).eval()
    elif text.lower() not in SEVENNET_NAMES and (os.sep in text or text.endswith((".pt", ".pth"))):
        raise ValueError(f"teacher checkpoint {text!r} does not exist")
    try:
        from ..nn.adapters import FlexibleSevenNet  # type: ignore[attr-defined]
    except ImportError as err:
        raise ValueError(
            f"teacher {text!r}: not a pyg-fcl checkpoint, and the SevenNet adapter "
            f"(pyg_fcl.nn.adapters.FlexibleSevenNet) is not available: {err}"
        ) from err
    return FlexibleSevenNet.from_pretrained(text).to(device).eval()


def fingerprint_model(model: torch.nn.Module) -> str:
    """SHA-256 of a model's class, ``config()`` (when it has one), ``r_max`` and weights."""
    digest = hashlib.sha256()
    digest.update(f"{type(model).__module__}:{type(model).__qualname__}".encode())
    config = model.config() if hasattr(model, "config") else {}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(repr(float(getattr(model, "r_max", 0.0))).encode())
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def fingerprint_structures(structures: Sequence[Data]) -> str:
    """SHA-256 of the species, positions (float64), cells and pbc of every structure, in order."""
    digest = hashlib.sha256(str(len(structures)).encode())
    for data in structures:
        digest.update(data.z.detach().cpu().long().numpy().tobytes())
        digest.update(data.pos.detach().cpu().double().numpy().tobytes())
        for key in ("cell", "pbc"):
            value = getattr(data, key, None)
            if value is not None:
                digest.update(value.detach().cpu().double().numpy().tobytes())
    return digest.hexdigest()


def _periodic(data: Data) -> bool:
    pbc = getattr(data, "pbc", None)
    return pbc is not None and bool(pbc.reshape(-1, 3).all())


def teacher_predictions(
    teacher: FCLModel,
    structures: Sequence[Data],
    *,
    batch_size: int = 8,
    compute_stress: bool = True,
    progress: bool = True,
    desc: str = "teacher labels",
) -> dict[str, Tensor]:
    """Run the teacher at its full cutoff (``r_max`` for every atom) on every structure.

    The teacher runs in eval mode on the device of its parameters; it is not modified.

    Args:
        teacher (FCLModel): the teacher.
        structures: ``G`` structures (labels, if any, are ignored).
        batch_size (int): structures per forward pass.
        compute_stress (bool): also compute stress for structures periodic in all directions.
        progress (bool): show a tqdm progress bar.
        desc (str): the progress bar's label.

    Returns:
        dict: ``energy`` ``[G]``, ``forces`` ``[sum N_i, 3]`` (structure by structure),
        ``num_atoms`` ``[G]`` long, ``stress`` ``[G, 3, 3]`` and ``has_stress`` ``[G]`` bool
        (``False``, stress zero, for structures that are not fully periodic or without
        ``compute_stress``); float tensors in the teacher's dtype, on the CPU.
    """
    if batch_size < 1:
        raise ValueError(f"teacher batch_size must be >= 1, got {batch_size}")
    param = next(teacher.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    r_max = float(teacher.r_max)
    energy, forces, stress, has_stress = [], [], [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(structures), unit="structure", desc=desc, dynamic_ncols=True)
    was_training = teacher.training
    teacher.eval()
    try:
        for start in range(0, len(structures), batch_size):
            items = []
            for data in structures[start : start + batch_size]:
                item = FlexibleRadiusGraph.clear_cache(copy.copy(data))
                item.cutoff = torch.full_like(item.pos[:, 0], r_max)
                items.append(item)
            batch = Batch.from_data_list(items).to(device)
            periodic = torch.tensor([_periodic(d) for d in items])
            stress_here = compute_stress and bool(periodic.any())
            try:
                with torch.enable_grad():
                    out = teacher(batch, compute_stress=stress_here)
            except ValueError as err:
                names = ", ".join(describe(d, start + k) for k, d in enumerate(items))
                raise ValueError(f"teacher {type(teacher).__name__} on {names}: {err}") from err
            energy.append(out["energy"].detach().cpu().reshape(-1))
            forces.append(out["forces"].detach().cpu())
            if stress_here:
                s = out["stress"].detach().cpu().reshape(-1, 3, 3)
                stress.append(torch.where(periodic[:, None, None], s, 0.0))
                has_stress.append(periodic)
            else:
                stress.append(out["forces"].new_zeros(len(items), 3, 3).cpu())
                has_stress.append(torch.zeros(len(items), dtype=torch.bool))
            if bar is not None:
                bar.update(len(items))
    finally:
        teacher.train(was_training)
        if bar is not None:
            bar.close()
    return {
        "energy": torch.cat(energy),
        "forces": torch.cat(forces),
        "num_atoms": torch.tensor([d.num_nodes for d in structures], dtype=torch.long),
        "stress": torch.cat(stress),
        "has_stress": torch.cat(has_stress),
    }


def cached_teacher_predictions(
    teacher: FCLModel,
    structures: Sequence[Data],
    path: str | os.PathLike | None = None,
    *,
    write: bool = True,
    **kwargs,
) -> dict[str, Tensor]:
    """:func:`teacher_predictions`, read from ``path`` when it holds this teacher's labels of
    exactly these structures, else computed (and written there atomically when ``write``).

    Args:
        teacher (FCLModel): the teacher. structures: the structures.
        path: the labels file (``None``: no file, always compute).
        write (bool): write the file after computing (e.g. only on DDP rank 0).
        **kwargs: passed to :func:`teacher_predictions`.

    Returns:
        dict: as :func:`teacher_predictions`.
    """
    fingerprints = {
        "teacher_fingerprint": fingerprint_model(teacher),
        "structures_fingerprint": fingerprint_structures(structures),
        "compute_stress": bool(kwargs.get("compute_stress", True)),
    }
    if path is not None and Path(path).is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if (
            isinstance(saved, dict)
            and saved.get("format") == LABELS_FORMAT
            and all(saved.get(k) == v for k, v in fingerprints.items())
        ):
            return saved["labels"]
    labels = teacher_predictions(teacher, structures, **kwargs)
    if path is not None and write:
        atomic_torch_save(
            {"format": LABELS_FORMAT, "version": LABELS_VERSION, **fingerprints, "labels": labels},
            path,
        )
    return labels


def with_teacher_labels(structures: Sequence[Data], labels: dict[str, Tensor]) -> list[Data]:
    """Shallow copies of ``structures`` whose labels are the teacher's.

    Every copy gets ``energy`` ``[1]``, ``forces`` ``[N, 3]``, ``stress`` ``[1, 3, 3]`` (cast to
    the structure's float dtype), ``has_energy = has_forces = True``, ``has_stress`` from the
    teacher, and ``stress_weight`` the structure's own where it had a stress label (e.g. ``0``
    for the X23 gas-phase frames), else ``1`` (``0`` where the teacher gave no stress). The
    originals are not modified.

    Raises:
        ValueError: the labels do not match the structures' number or sizes.
    """
    sizes = labels["num_atoms"].tolist()
    if len(sizes) != len(structures):
        raise ValueError(f"teacher labels for {len(sizes)} structures, got {len(structures)}")
    offsets = [0]
    for k, (n, data) in enumerate(zip(sizes, structures)):
        if n != data.num_nodes:
            raise ValueError(
                f"teacher labels of structure {k} have {n} atoms, it has {data.num_nodes}"
            )
        offsets.append(offsets[-1] + n)
    out = []
    for k, data in enumerate(structures):
        item = copy.copy(data)
        dtype = data.pos.dtype
        had_stress = "has_stress" in data and bool(data.has_stress.reshape(-1)[0])
        has_stress = bool(labels["has_stress"][k])
        weight = float(data.stress_weight.reshape(-1)[0]) if had_stress else 1.0
        item.energy = labels["energy"][k].reshape(1).to(dtype)
        item.forces = labels["forces"][offsets[k] : offsets[k + 1]].to(dtype)
        item.stress = labels["stress"][k].reshape(1, 3, 3).to(dtype)
        item.has_energy = torch.tensor([True])
        item.has_forces = torch.tensor([True])
        item.has_stress = torch.tensor([has_stress])
        item.stress_weight = torch.tensor([weight if has_stress else 0.0], dtype=dtype)
        out.append(item)
    return out


def distillation_sets(
    teacher: FCLModel | str | os.PathLike,
    train: Sequence[Data],
    val: Sequence[Data] | None,
    *,
    device: str | torch.device = "cpu",
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    cache: bool = True,
    write: bool = True,
    progress: bool = True,
    compute_stress: bool = True,
) -> tuple[list[Data], list[Data] | None]:
    """Training and validation structures labelled by the teacher (what the Trainer trains on).

    Args:
        teacher: an :class:`~pyg_fcl.FCLModel`, a pyg-fcl checkpoint path or ``"7net-0"``
            (see :func:`load_teacher`).
        train, val: the structures (labels not needed).
        device: where a teacher given by name or path runs.
        out_dir: the run's folder; with ``cache``, the labels are kept in
            ``out_dir/teacher_labels_{train,val}.pt`` and reused by a resumed run.
        batch_size (int): structures per teacher pass. write (bool): write the files (rank 0).
        progress (bool): tqdm progress bars. compute_stress (bool): also label stress.

    Returns:
        tuple: the labelled training and validation structures (shallow copies).
    """
    with torch.random.fork_rng(devices=[]):  # building a teacher draws init weights:
        torch.manual_seed(0)  # the same ones every time (its fingerprint keys the label files)
        model = load_teacher(teacher, device)
    sets = []
    for name, structures in (("train", train), ("val", val)):
        if not structures:
            sets.append(None if structures is None else list(structures))
            continue
        path = Path(out_dir) / f"teacher_labels_{name}.pt" if cache and out_dir else None
        labels = cached_teacher_predictions(
            model,
            structures,
            path,
            write=write,
            batch_size=batch_size,
            progress=progress,
            compute_stress=compute_stress,
            desc=f"teacher labels ({name})",
        )
        sets.append(with_teacher_labels(structures, labels))
    return sets[0], sets[1]
