"""Cutoff parametrizations: range, initial value, element lookup, specs."""

from __future__ import annotations

import pytest
import torch

from pyg_fcl.data import CutoffSpec
from pyg_fcl.optim import GlobalCutoff, PerAtomCutoffs, PerElementCutoffs, make_parametrization


def test_cutoffs_stay_inside_trained_range_for_any_theta():
    p = PerElementCutoffs([1, 8], r_min=3.5, r_max=7.0, init=6.0)
    assert p(torch.tensor([8, 1, 1])).tolist() == pytest.approx([6.0, 6.0, 6.0])
    with torch.no_grad():
        p.theta.copy_(torch.tensor([-1e3, 1e3]))
    values = p(torch.tensor([1, 8]))
    assert values.tolist() == [3.5, 7.0]  # ends reached only in the limit, never passed
    with torch.no_grad():
        p.theta.normal_(0, 10)
    v = p.values()
    assert bool(((v >= 3.5) & (v <= 7.0)).all())


def test_per_element_lookup_and_spec():
    p = PerElementCutoffs([6, 1, 8], r_min=3.0, r_max=6.0, init=4.5)
    with torch.no_grad():
        p.theta.copy_(torch.tensor([0.0, 2.0, -2.0]))  # order of sorted elements: H, C, O
    z = torch.tensor([8, 6, 1, 6])
    expected = [3.0 + 3.0 * torch.sigmoid(torch.tensor(t)).item() for t in (-2.0, 2.0, 0.0, 2.0)]
    assert p(z).tolist() == pytest.approx(expected)
    spec = p.spec(r_max=6.0)
    assert spec.kind == "element" and spec.per_atom(z).tolist() == pytest.approx(expected)
    with pytest.raises(ValueError, match="Z=7"):
        p(torch.tensor([1, 7]))


def test_init_at_r_max_is_clamped_just_inside():
    p = GlobalCutoff(r_min=3.0, r_max=6.0, init=6.0)
    assert 5.9 < float(p.values()) < 6.0
    with pytest.raises(ValueError, match="outside"):
        GlobalCutoff(r_min=3.0, r_max=6.0, init=6.5)
    with pytest.raises(ValueError, match="r_min < r_max"):
        GlobalCutoff(r_min=6.0, r_max=6.0, init=6.0)


def test_per_atom_repeats_over_frames_and_checks_atoms():
    p = PerAtomCutoffs([8, 1, 1], r_min=3.0, r_max=6.0, init=4.0)
    out = p(torch.tensor([8, 1, 1, 8, 1, 1]))
    assert out.shape == (6,) and out.tolist() == pytest.approx([4.0] * 6)
    with pytest.raises(ValueError, match="does not repeat"):
        p(torch.tensor([1, 8, 1]))
    spec = p.spec()
    assert isinstance(spec, CutoffSpec) and spec.kind == "atom" and spec.numbers == (8, 1, 1)


def test_make_parametrization_checks_frames_of_one_system():
    class S:
        def __init__(self, z):
            self.z = torch.tensor(z)

    assert isinstance(make_parametrization("atom", [S([1, 8]), S([1, 8])], 3, 6, 5), PerAtomCutoffs)
    with pytest.raises(ValueError, match="structure 1"):
        make_parametrization("atom", [S([1, 8]), S([8, 1])], 3, 6, 5)
    with pytest.raises(ValueError, match="per='pair'"):
        make_parametrization("pair", [S([1])], 3, 6, 5)
