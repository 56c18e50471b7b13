"""The shipped FCL-fine-tuned SevenNet-0 (``sevennet0_fcl_x23.pt``) is the model its card
describes: it loads, records its two training stages, and on a frame of the crystal it never saw
(13_naphthalene) its forces are close to the vdW-DF2 labels at 5 Å and at 3.5 Å."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pyg_fcl import load_model, read_structures

pytest.importorskip("sevenn", reason='the [sevenn] extra (pip install "pyg-fcl[sevenn]")')

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "pyg_fcl_models" / "pretrained" / "sevennet0_fcl_x23.pt"


def test_shipped_fine_tuned_sevennet_on_held_out_naphthalene():
    from pyg_fcl.nn.adapters import FlexibleSevenNet

    model = load_model(MODEL)
    assert type(model) is FlexibleSevenNet and (model.r_min, model.r_max) == (2.5, 5.0)
    assert model.elements == [1, 6, 7, 8]
    meta = model.checkpoint_meta
    assert meta["held_out_systems"] == ["13_naphthalene"]
    assert [s["steps"] for s in meta["stages"]] == [301, 1204]
    naphthalene = ROOT / "data" / "molcrys_x23" / "13_naphthalene.xyz"
    data = read_structures(naphthalene, index="30")[0]  # a crystal frame (36 atoms)
    for cutoff in (5.0, 3.5):
        data.cutoff = torch.full((data.num_nodes,), cutoff)
        rmse = float((model(data)["forces"] - data.forces).square().mean().sqrt())
        # on this 36-atom crystal frame: 0.110 (5 Å) and 0.090 (3.5 Å) measured, SevenNet-0
        # untouched 0.188 and 0.195; over 41 frames (the card) 0.130 and 0.117
        assert rmse < 0.15, (cutoff, rmse)
