import math

import pytest
import torch

from pyg_fcl.transforms import EDGE_RULES, compute_edge_cutoff, validate_cutoff

# edges j -> i: (0 -> 1), (1 -> 0), (2 -> 0), (0 -> 2)
EDGE_INDEX = torch.tensor([[0, 1, 2, 0], [1, 0, 0, 2]])
CUTOFF = torch.tensor([4.0, 6.0, 3.0], dtype=torch.float64)


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("mean", [5.0, 5.0, 3.5, 3.5]),
        ("receiver", [6.0, 4.0, 4.0, 3.0]),
        ("min", [4.0, 4.0, 3.0, 3.0]),
        ("max", [6.0, 6.0, 4.0, 4.0]),
        ("geometric", [math.sqrt(24.0), math.sqrt(24.0), math.sqrt(12.0), math.sqrt(12.0)]),
    ],
)
def test_rule_values(rule, expected):
    got = compute_edge_cutoff(CUTOFF, EDGE_INDEX, rule)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("rule", EDGE_RULES)
def test_rules_differentiable_and_consistent(rule):
    g = torch.Generator().manual_seed(0)
    cutoff = 3.0 + torch.rand(6, generator=g, dtype=torch.float64)
    edge_index = torch.randint(0, 6, (2, 20), generator=g)
    torch.autograd.gradcheck(
        lambda c: compute_edge_cutoff(c, edge_index, rule), (cutoff.requires_grad_(),)
    )
    # every rule lies between the two cutoffs, so an r_max search holds every edge
    ec = compute_edge_cutoff(cutoff.detach(), edge_index, rule)
    lo = torch.minimum(cutoff[edge_index[0]], cutoff[edge_index[1]]).detach()
    hi = torch.maximum(cutoff[edge_index[0]], cutoff[edge_index[1]]).detach()
    assert bool(((ec >= lo - 1e-12) & (ec <= hi + 1e-12)).all())
    # a scalar cutoff gives the same value on every edge
    torch.testing.assert_close(
        compute_edge_cutoff(torch.tensor(4.5), edge_index, rule), torch.full((20,), 4.5)
    )


def test_edge_rules_tuple_and_unknown_rule():
    assert EDGE_RULES == ("mean", "receiver", "min", "max", "geometric")
    with pytest.raises(ValueError, match="'harmonic'.*mean, receiver, min, max, geometric"):
        compute_edge_cutoff(CUTOFF, EDGE_INDEX, "harmonic")


def test_validate_cutoff_accepts_scalars_and_vectors():
    for scalar in (4, 4.0, torch.tensor(4.0), torch.tensor([4.0])):
        out = validate_cutoff(scalar, 5.0, 3, dtype=torch.float64)
        torch.testing.assert_close(out, torch.full((3,), 4.0, dtype=torch.float64))
    vector = torch.tensor([1.0, 5.0, 2.5], requires_grad=True)
    out = validate_cutoff(vector, 5.0, 3)
    assert out is vector
    # r_max is compared in the cutoffs' dtype: float32(0.1) > 0.1 is still r_max
    validate_cutoff(torch.full((2,), 0.1, dtype=torch.float32), 0.1, 2)


@pytest.mark.parametrize(
    "values, pattern",
    [
        ([1.0, 0.0, 2.0], r"cutoff\[1\] = 0.0 is not in \(0, r_max=5.0\]: atom 1"),
        ([1.0, 2.0, -3.0], r"cutoff\[2\] = -3.0 is not in"),
        ([5.000001, 2.0, 3.0], r"cutoff\[0\] = 5.000001 is not in"),
        ([1.0, float("nan"), 3.0], r"cutoff\[1\] = nan is not finite"),
        ([1.0, 2.0, -float("inf")], r"cutoff\[2\] = -inf is not finite"),
    ],
)
def test_validate_cutoff_rejects_bad_values(values, pattern):
    with pytest.raises(ValueError, match=pattern):
        validate_cutoff(torch.tensor(values, dtype=torch.float64), 5.0, 3)


def test_validate_cutoff_names_structure_and_shape():
    batch = torch.tensor([0, 0, 1, 1, 1])
    cutoff = torch.tensor([1.0, 2.0, 3.0, 9.0, 9.0])
    with pytest.raises(ValueError, match=r"atom 3 \(structure 1, atom 1 within it\); 2 of 5"):
        validate_cutoff(cutoff, 5.0, 5, batch=batch, source="data.cutoff")
    with pytest.raises(ValueError, match=r"shape \[num_nodes\] = \[4\], got shape \[5\]"):
        validate_cutoff(cutoff, 5.0, 4)
    with pytest.raises(ValueError, match="number or a tensor"):
        validate_cutoff("4.0", 5.0, 4)
    with pytest.raises(ValueError, match="r_max must be"):
        validate_cutoff(1.0, float("nan"), 4)
