"""SevenNet-0 made cutoff-flexible: equal to sevenn's own calculator at 5 Å, physically sound
when truncated zero-shot, checkpoints, and the FCL tool chain (Trainer, optimizer, calculator)."""

from __future__ import annotations

import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.stress import full_3x3_to_voigt_6_stress

from pyg_fcl import FCLCalculator, atoms_to_data, load_model, read_structures, save_model
from pyg_fcl.nn.adapters.sevennet import FlexibleSevenNet, import_sevenn
from pyg_fcl.nn.adapters.sevennet_blocks import XPLOREnvelope
from pyg_fcl.optim import CutoffOptimizer
from pyg_fcl.testing import ALL_CHECKS, run_all_checks
from pyg_fcl.train import TrainConfig, Trainer

sevenn = pytest.importorskip("sevenn", reason='the [sevenn] extra (pip install "pyg-fcl[sevenn]")')

DATA = Path(__file__).resolve().parents[2] / "data" / "molcrys_x23"


@pytest.fixture(scope="module")
def sevennet0():
    torch.manual_seed(0)
    return FlexibleSevenNet.from_pretrained("7net-0", r_min=2.5)


@pytest.fixture(scope="module")
def frames():
    """Two periodic crystals (CO2: a cubic 5.7 Å cell, so atoms see their own images at 5 Å;
    ammonia, 16 atoms) and one isolated naphthalene molecule (no cell, no periodicity)."""
    co2 = ase.io.read(DATA / "07_co2.xyz", index=10)
    ammonia = ase.io.read(DATA / "04_ammonia.xyz", index=12)
    naphthalene = ase.io.read(DATA / "13_naphthalene.xyz", index=0)  # a molecule in a 25 Å box
    naphthalene.pbc = False
    naphthalene.cell = None
    return [co2, ammonia, naphthalene]


def test_equals_sevennet_calculator_at_its_cutoff(sevennet0, frames):
    """All cutoffs at 5 Å, untrained: energy, forces and stress of sevenn's SevenNetCalculator
    (its own graph, XPLOR cutoff and autograd) to float32 round-off."""
    from sevenn.calculator import SevenNetCalculator

    calc = SevenNetCalculator("7net-0", device="cpu")
    for atoms in frames:
        periodic = bool(atoms.pbc.any())
        ref = atoms.copy()
        ref.calc = calc
        out = sevennet0(atoms_to_data(atoms), compute_stress=periodic)
        de = abs(float(out["energy"]) - ref.get_potential_energy()) / len(atoms)
        df = np.abs(out["forces"].detach().numpy() - ref.get_forces()).max()
        assert de <= 1e-5, f"{atoms.symbols}: |dE| = {de:.2e} eV/atom"
        assert df <= 1e-4, f"{atoms.symbols}: max |dF| = {df:.2e} eV/Å"
        if periodic:
            stress = full_3x3_to_voigt_6_stress(out["stress"][0].detach().numpy())
            ds = np.abs(stress - ref.get_stress()).max()
            assert ds <= 1e-6, f"{atoms.symbols}: max |dstress| = {ds:.2e} eV/Å³"


def test_envelope_is_sevennets_xplor_rescaled():
    """At r_c = 5 Å the envelope is sevenn's own XPLORCutoff(5, 4.5); at other cutoffs the same
    curve in r / r_c; exactly 0 from r_c on; C1 (finite differences of the derivative)."""
    from sevenn.nn.edge_embedding import XPLORCutoff

    r = torch.linspace(0.3, 4.999, 400, dtype=torch.float64)
    env = XPLOREnvelope(0.9)
    torch.testing.assert_close(env(r, 5.0), XPLORCutoff(5.0, 4.5)(r), rtol=0, atol=1e-12)
    torch.testing.assert_close(env(0.6 * r, 3.0), env(r, 5.0), rtol=0, atol=1e-12)
    beyond = torch.tensor([5.0, 5.5, 9.0], dtype=torch.float64)
    assert torch.equal(env(beyond, 5.0), torch.zeros(3, dtype=torch.float64))
    x = torch.tensor([4.5, 5.0], dtype=torch.float64)  # the two joints
    h = 1e-6
    for point in x:
        left = (env(point - h, 5.0) - env(point - 2 * h, 5.0)) / h
        right = (env(point + 2 * h, 5.0) - env(point + h, 5.0)) / h
        assert abs(float(left - right)) < 1e-4
    with pytest.raises(ValueError, match="on_ratio"):
        XPLOREnvelope(1.0)


def test_cutoff_conditioning_starts_at_zero(sevennet0, frames):
    """Untrained, the cutoff embedding and the edge-cutoff radial correction add exactly zero:
    the model equals the same weights without them at random per-atom cutoffs."""
    plain = FlexibleSevenNet(
        sevennet0.sevenn_config, r_min=2.5, cutoff_embedding=False, radial_hidden=0
    )
    plain.load_state_dict(
        {k: v for k, v in sevennet0.state_dict().items() if not k.startswith(("cutoff_", "radial"))}
    )
    data = atoms_to_data(frames[0])
    data.cutoff = 2.5 + 2.5 * torch.rand(data.num_nodes, generator=torch.Generator().manual_seed(1))
    a, b = sevennet0(data), plain(data)
    assert torch.equal(a["energy"], b["energy"])  # the same sums: adding exact zeros
    # float32 round-off from the autograd order
    torch.testing.assert_close(a["forces"], b["forces"], rtol=0, atol=1e-5)
    # and the conditioning is live: its gradient is not zero
    sevennet0(data, create_graph=True)["energy"].sum().backward()
    assert sevennet0.cutoff_embedding.mlp[2].weight.grad.abs().sum() > 0
    assert any(m.mlp[2].weight.grad.abs().sum() > 0 for m in sevennet0.radial.values())
    sevennet0.zero_grad(set_to_none=True)


@pytest.mark.slow
def test_zero_shot_truncation_passes_the_physics_checks(sevennet0):
    """Untrained SevenNet-0 at random per-atom cutoffs in [2.5, 5] Å, float64: every
    pyg_fcl.testing check. SevenNet-0 is SO(3)-, not O(3)-equivariant (is_parity False), so
    the rotation check runs without a reflection; the 2x2x2-supercell check is left out for
    time (periodic images, batching and permutation cover the bookkeeping it tests)."""
    model = FlexibleSevenNet(sevennet0.sevenn_config, r_min=2.5).double()
    model.load_state_dict(sevennet0.state_dict())
    assert model.sevenn_config["is_parity"] is False
    co2 = read_structures(DATA / "07_co2.xyz", index="10", dtype=torch.float64)[0]
    checks = [name for name in ALL_CHECKS if name != "extensive"]
    options = {"rotation": {"reflection": False}}
    ran = run_all_checks(model.eval(), [co2], checks=checks, seed=0, options=options)
    assert {name for _, name in ran} == set(checks)
    two = read_structures(DATA / "07_co2.xyz", index="20:22", dtype=torch.float64)
    assert run_all_checks(model, two, checks=["batch"], seed=1) == [("all", "batch")]


def test_checkpoint_round_trip(sevennet0, frames, tmp_path):
    """save_model / load_model: config of plain values (weights-only load), same outputs."""
    path = tmp_path / "sevennet.pt"
    save_model(sevennet0, path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["class"] == "pyg_fcl.nn.adapters.sevennet:FlexibleSevenNet"
    assert ckpt["config"]["sevenn_config"]["cutoff"] == 5.0
    loaded = load_model(path)
    data = atoms_to_data(frames[1])
    data.cutoff = torch.full((data.num_nodes,), 3.5)
    a, b = sevennet0(data), loaded(data)
    assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])


def test_trainer_optimizer_and_calculator(sevennet0, frames):
    """One FCL Trainer step changes the weights; the cutoff optimizer moves per-element cutoffs;
    the ASE calculator gives the model's forces at per-element cutoffs."""
    model = FlexibleSevenNet(sevennet0.sevenn_config, r_min=3.0, elements=[6, 8])
    model.load_state_dict(sevennet0.state_dict())
    co2 = read_structures(DATA / "07_co2.xyz", index="10:12")
    before = model.cutoff_embedding.mlp[2].weight.detach().clone()
    cfg = TrainConfig(epochs=1, batch_size=1, max_steps=1, lr=1e-3, progress=False, seed=0)
    Trainer(model, co2[:1], None, cfg).fit()
    assert not torch.equal(before, model.cutoff_embedding.mlp[2].weight)
    opt = CutoffOptimizer(model.eval(), co2, per="element", epochs=1, batch_size=2)
    result = opt.optimize(1e-2)
    assert result is not None
    cutoffs = {"C": 4.0, "O": 3.5}
    atoms = frames[0].copy()
    atoms.calc = FCLCalculator(model, cutoffs=cutoffs)
    data = atoms_to_data(frames[0])
    data.cutoff = torch.tensor([4.0 if z == 6 else 3.5 for z in data.z.tolist()])
    expected = model(data)["forces"].detach().numpy()
    np.testing.assert_allclose(atoms.get_forces(), expected, atol=1e-5)


def test_inputs_and_missing_extra(sevennet0, monkeypatch):
    with pytest.raises(ValueError, match="exceeds the SevenNet model's cutoff"):
        FlexibleSevenNet(sevennet0.sevenn_config, r_max=6.0)
    with pytest.raises(ValueError, match="not among"):
        FlexibleSevenNet(sevennet0.sevenn_config, elements=[1, 100])
    with pytest.raises(TypeError, match="does not carry the config"):
        FlexibleSevenNet.from_pretrained(sevennet0.sevennet)
    with pytest.raises(ValueError, match="Valid pretrained model names"):
        FlexibleSevenNet.from_pretrained("7net-does-not-exist")
    monkeypatch.setitem(sys.modules, "sevenn", None)
    with pytest.raises(ImportError, match=r"pyg-fcl\[sevenn\]"):
        import_sevenn()


def test_anchored_conditioning_vanishes_at_r_max_whatever_it_learns(sevennet0, frames, tmp_path):
    """anchor_r_max=True: with non-zero conditioning weights, the model at 5 Å everywhere still
    equals SevenNet-0, and below 5 Å the conditioning acts; a Trainer step with the backbone
    frozen (lr_scale) moves only the conditioning; the option survives a checkpoint."""
    model = FlexibleSevenNet(sevennet0.sevenn_config, r_min=3.0, anchor_r_max=True)
    model.load_state_dict(sevennet0.state_dict())
    torch.manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("cutoff_embedding.", "radial.")):
                param.normal_(0.0, 0.3)
    data = atoms_to_data(frames[1])
    data.cutoff = torch.full((data.num_nodes,), 5.0)
    a, b = model(data), sevennet0(data)
    assert torch.equal(a["energy"], b["energy"])
    torch.testing.assert_close(a["forces"], b["forces"], rtol=0, atol=1e-6)
    data.cutoff = torch.full((data.num_nodes,), 4.0)
    unanchored = FlexibleSevenNet(sevennet0.sevenn_config, r_min=3.0)
    unanchored.load_state_dict(model.state_dict())
    e_anchor, e_plain, e_zero = (m(data)["energy"] for m in (model, unanchored, sevennet0))
    assert abs(float(e_anchor - e_zero)) > 1e-3 and abs(float(e_anchor - e_plain)) > 1e-3

    co2 = read_structures(DATA / "07_co2.xyz", index="10:12")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = TrainConfig(
        epochs=1, batch_size=1, max_steps=1, lr=1e-3, progress=False, seed=0, ema_decay=None,
        lr_scale={"sevennet.": 0.0},
    )  # fmt: skip
    Trainer(model, co2[:1], None, cfg).fit()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith(("cutoff_embedding.", "radial.")) for n in changed)

    save_model(model, tmp_path / "anchored.pt")
    loaded = load_model(tmp_path / "anchored.pt")
    assert loaded.anchor_r_max and all(r.anchored for r in loaded.radial.values())
    assert torch.equal(loaded(data)["energy"], model(data)["energy"])
