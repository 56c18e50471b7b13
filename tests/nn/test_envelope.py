"""Envelopes against independent references.

The polynomial envelope of order p is the survival function of a Beta(p, 3) distribution,
``u(x) = 1 - I_x(p, 3)``: its derivative ``-p(p+1)(p+2)/2 x^(p-1) (1-x)^2`` is minus the Beta
density. scipy.stats gives values and first derivatives; second derivatives come from central
finite differences of that density.
"""

import math

import pytest
import torch
from scipy.stats import beta

from pyg_fcl.nn import CosineEnvelope, PolynomialEnvelope, cosine_envelope, polynomial_envelope

P_VALUES = [2, 5, 6]


def grads(fn, r, r_c):
    """u, du/dr, du/dr_c, d2u/dr2, d2u/dr_c2 (elementwise, float64)."""
    r = r.clone().requires_grad_()
    r_c = r_c.clone().requires_grad_()
    u = fn(r, r_c)
    du_dr, du_drc = torch.autograd.grad(u.sum(), (r, r_c), create_graph=True)
    (d2_rr,) = torch.autograd.grad(du_dr.sum(), r, retain_graph=True)
    (d2_cc,) = torch.autograd.grad(du_drc.sum(), r_c)
    return u.detach(), du_dr.detach(), du_drc.detach(), d2_rr, d2_cc


@pytest.mark.parametrize("p", P_VALUES)
def test_polynomial_values_and_derivatives_match_beta_distribution(p):
    x = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)
    r_c = torch.linspace(2.0, 7.0, 25, dtype=torch.float64)
    r = x * r_c
    u, du_dr, du_drc, d2_rr, _ = grads(lambda a, b: polynomial_envelope(a, b, p), r, r_c)
    ref = torch.from_numpy(beta.sf(x.numpy(), p, 3))
    slope = -torch.from_numpy(beta.pdf(x.numpy(), p, 3))  # du/dx
    h = 1e-5
    curvature = -torch.from_numpy(
        (beta.pdf(x.numpy() + h, p, 3) - beta.pdf(x.numpy() - h, p, 3)) / (2 * h)
    )
    torch.testing.assert_close(u, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(du_dr, slope / r_c, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(du_drc, -slope * r / r_c**2, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(d2_rr, curvature / r_c**2, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(PolynomialEnvelope(p)(r, r_c), u)


@pytest.mark.parametrize("p", P_VALUES)
def test_polynomial_endpoints(p):
    r_c = torch.tensor([3.0, 6.0], dtype=torch.float64)
    u0, d0, _, _, _ = grads(lambda a, b: polynomial_envelope(a, b, p), torch.zeros(2).double(), r_c)
    assert torch.equal(u0, torch.ones(2, dtype=torch.float64))
    assert torch.equal(d0, torch.zeros(2, dtype=torch.float64))  # flat at 0 as well (p >= 2)
    u1, d_r, d_c, d2_rr, d2_cc = grads(lambda a, b: polynomial_envelope(a, b, p), r_c, r_c)
    for value in (u1, d_r, d_c, d2_rr, d2_cc):
        assert bool((value.abs() <= 1e-12).all()), value
    # and approaching r_c from below: u ~ (1-x)^3, u' ~ (1-x)^2, u'' ~ (1-x)
    eps = 1e-4
    u, d_r, _, d2_rr, _ = grads(
        lambda a, b: polynomial_envelope(a, b, p), r_c * (1 - eps), r_c.clone()
    )
    k = p * (p + 1) * (p + 2) / 2
    torch.testing.assert_close(u, torch.full_like(u, k * eps**3 / 3), rtol=1e-2, atol=0)
    torch.testing.assert_close(d_r * r_c, torch.full_like(u, -k * eps**2), rtol=1e-2, atol=0)
    torch.testing.assert_close(d2_rr * r_c**2, torch.full_like(u, 2 * k * eps), rtol=1e-2, atol=0)


@pytest.mark.parametrize("envelope", [polynomial_envelope, cosine_envelope])
def test_exactly_zero_with_zero_gradient_beyond_cutoff(envelope):
    r_c = torch.tensor([3.0, 5.0, 5.0], dtype=torch.float64)
    r = torch.tensor([3.5, 5.0 + 1e-9, 40.0], dtype=torch.float64)
    u, d_r, d_c, d2_rr, d2_cc = grads(envelope, r, r_c)
    for value in (u, d_r, d_c, d2_rr, d2_cc):
        assert torch.equal(value, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(envelope(r.float(), 3.0), torch.zeros(3))  # float cutoff, float32
    # at r == r_c exactly: value exactly 0, derivatives 0 up to rounding (the cosine is only C1)
    u, *derivatives = grads(envelope, r_c, r_c)
    assert torch.equal(u, torch.zeros(3, dtype=torch.float64))
    for value in derivatives[: 4 if envelope is polynomial_envelope else 2]:
        assert bool((value.abs() <= 1e-12).all()), value


@pytest.mark.parametrize("envelope", [polynomial_envelope, cosine_envelope])
def test_derivatives_exactly_zero_at_cutoff(envelope):
    r_c = torch.tensor([3.0, 5.0, 7.0], dtype=torch.float64)
    _, *derivatives = grads(envelope, r_c, r_c)
    for value in derivatives[: 4 if envelope is polynomial_envelope else 2]:
        assert torch.equal(value, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize(
    "fn",
    [polynomial_envelope, PolynomialEnvelope(3), cosine_envelope, CosineEnvelope()],
    ids=["poly5", "poly3_module", "cosine", "cosine_module"],
)
def test_gradcheck_and_gradgradcheck_in_r_and_cutoff(fn):
    g = torch.Generator().manual_seed(0)
    r_c = (3.0 + 3.0 * torch.rand(12, generator=g, dtype=torch.float64)).requires_grad_()
    # x in (0, 0.95) and (1.05, 1.5): away from the kink of the clamp at x = 1
    x = torch.cat([0.95 * torch.rand(8, generator=g), 1.05 + 0.45 * torch.rand(4, generator=g)])
    r = (x.double() * r_c.detach()).requires_grad_()
    assert torch.autograd.gradcheck(fn, (r, r_c))
    assert torch.autograd.gradgradcheck(fn, (r, r_c))


def test_cosine_values_and_cutoff_slope():
    r_c = torch.tensor(4.0, dtype=torch.float64)
    r = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    expected = torch.tensor(
        [1.0, 0.5 * (math.cos(math.pi / 4) + 1), 0.5, 0.5 * (math.cos(3 * math.pi / 4) + 1), 0, 0],
        dtype=torch.float64,
    )
    torch.testing.assert_close(cosine_envelope(r, r_c), expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(CosineEnvelope()(r, 4.0), expected, rtol=0, atol=1e-15)
    _, d_r, _, _, _ = grads(cosine_envelope, torch.tensor([4.0]).double(), r_c.reshape(1))
    assert float(d_r.abs()) < 1e-15  # C1 at the cutoff
    _, d_r, _, _, _ = grads(cosine_envelope, torch.tensor([2.0]).double(), r_c.reshape(1))
    torch.testing.assert_close(d_r, torch.tensor([-0.5 * math.pi / 4]).double())


def test_module_arguments():
    assert PolynomialEnvelope().p == 5 and "p=5" in repr(PolynomialEnvelope())
    for bad in (1, 2.5, 0):
        with pytest.raises(ValueError, match=f"p={bad!r}"):
            PolynomialEnvelope(bad)
