"""The shipped label-free distilled SevenNet-0 (``sevennet0_distilled_mad.pt``) is the model its
card describes: it loads, it was distilled on [3, 5] Å without labels with its cutoff
conditioning anchored at 5 Å and SevenNet-0's weights frozen, so at 5 Å it *is* its teacher,
and below 5 Å its trained conditioning changes the forces."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pyg_fcl import load_model, read_structures

pytest.importorskip("sevenn", reason='the [sevenn] extra (pip install "pyg-fcl[sevenn]")')

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "pyg_fcl_models" / "pretrained" / "sevennet0_distilled_mad.pt"


def test_shipped_distilled_model_equals_its_teacher_at_5_angstrom():
    from pyg_fcl.nn.adapters import FlexibleSevenNet

    model = load_model(MODEL)
    assert type(model) is FlexibleSevenNet and (model.r_min, model.r_max) == (3.0, 5.0)
    assert model.anchor_r_max
    meta = model.checkpoint_meta
    assert meta["labels"] == "none (the teacher's)" and meta["teacher"].startswith("7net-0")
    assert meta["lr_scale"] == {"sevennet.": 0.0}
    teacher = FlexibleSevenNet.from_pretrained("7net-0")
    # the frozen backbone is SevenNet-0's, weight for weight
    own = teacher.sevennet.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in model.sevennet.state_dict().items())
    data = read_structures(ROOT / "data" / "mad_sample" / "test.xyz", index="2")[0]
    ref, out = teacher(data), model(data)
    torch.testing.assert_close(out["forces"], ref["forces"], rtol=0, atol=1e-5)
    torch.testing.assert_close(out["energy"], ref["energy"], rtol=1e-7, atol=1e-5)
    data.cutoff = torch.full((data.num_nodes,), 4.0)
    truncated = FlexibleSevenNet.from_pretrained("7net-0", r_min=3.0)
    assert not torch.allclose(model(data)["forces"], truncated(data)["forces"], atol=1e-3)
