"""Finite-difference checks of forces, stress and derivatives with respect to per-atom cutoffs."""

from __future__ import annotations

import torch

from .structures import as_structure, close, model_dtype, run

__all__ = [
    "assert_forces_match_finite_differences",
    "assert_stress_matches_finite_differences",
    "assert_cutoff_gradients_match_finite_differences",
]

# default (step, atol, rtol) per dtype: central differences have O(step^2) error
_FD = {torch.float64: (1e-4, 1e-5, 1e-4), torch.float32: (1e-2, 2e-2, 5e-2)}


def _fd_defaults(model, step, atol, rtol) -> tuple[float, float, float]:
    d = _FD.get(model_dtype(model), _FD[torch.float32])
    return (
        d[0] if step is None else step,
        d[1] if atol is None else atol,
        d[2] if rtol is None else rtol,
    )


def _energy(model, s, **kwargs) -> torch.Tensor:
    return run(model, s, **kwargs)["energy"].sum()


def assert_forces_match_finite_differences(
    model, structure, cutoff=None, *, num_checks: int = 6, step=None, seed=0, atol=None, rtol=None
) -> None:
    """Forces equal ``-(E(x + h) - E(x - h)) / 2h`` for ``num_checks`` random atom components."""
    s = as_structure(model, structure, cutoff)
    step, atol, rtol = _fd_defaults(model, step, atol, rtol)
    forces = run(model, s)["forces"]
    g = torch.Generator().manual_seed(int(seed))
    picks = torch.randperm(3 * s.num_atoms, generator=g)[:num_checks].tolist()
    fd, got = [], []
    for flat in picks:
        atom, comp = divmod(flat, 3)
        delta = torch.zeros_like(s.pos)
        delta[atom, comp] = step
        e_plus = _energy(model, s.with_(pos=s.pos + delta))
        e_minus = _energy(model, s.with_(pos=s.pos - delta))
        fd.append(-(e_plus - e_minus) / (2 * step))
        got.append(forces[atom, comp])
    where = f"finite-difference forces of {s.name} (atom, xyz) = {[divmod(p, 3) for p in picks]}"
    close("forces", torch.stack(got), torch.stack(fd), atol, rtol, where)


def assert_stress_matches_finite_differences(
    model, structure, cutoff=None, *, step=None, atol=None, rtol=None
) -> None:
    """Stress equals ``(1/V) dE/d eps`` by central differences in each symmetric strain component
    (positions and cell deformed by ``1 + eps``; ASE sign convention)."""
    s = as_structure(model, structure, cutoff)
    if not s.periodic:
        raise ValueError(f"{s.name}: stress check needs a fully periodic structure")
    step, atol, rtol = _fd_defaults(model, step, atol, rtol)
    atol = atol * 1e-2  # stress is an energy per volume (eV/Å³), typically ~1e-2 of forces
    stress = run(model, s, stress=True)["stress"][0]
    volume = torch.linalg.det(s.cell).abs()
    fd = torch.zeros_like(stress)
    eye = torch.eye(3, dtype=s.pos.dtype)
    for a in range(3):
        for b in range(a, 3):
            sym = torch.zeros(3, 3, dtype=s.pos.dtype)
            sym[a, b] += 0.5
            sym[b, a] += 0.5
            energies = []
            for sign in (1.0, -1.0):
                deform = eye + sign * step * sym
                energies.append(_energy(model, s.with_(pos=s.pos @ deform, cell=s.cell @ deform)))
            fd[a, b] = fd[b, a] = (energies[0] - energies[1]) / (2 * step * volume)
    close("stress", stress, fd, atol, rtol, f"finite-difference stress of {s.name}")


def assert_cutoff_gradients_match_finite_differences(
    model, structure, cutoff=None, *, num_checks: int = 3, step=None, seed=0, atol=None, rtol=None
) -> None:
    """Autograd ``dE/d r_c^(k)`` and ``d(F . v)/d r_c^(k)`` (second order: forces differentiated
    with respect to cutoffs, ``v`` random) equal central differences in single atoms' cutoffs.

    The model must keep its autograd graph when ``data.cutoff`` requires grad (as the cutoff
    optimizer needs).
    """
    s = as_structure(model, structure, cutoff)
    step, atol, rtol = _fd_defaults(model, step, atol, rtol)
    g = torch.Generator().manual_seed(int(seed))
    direction = torch.randn(s.pos.shape, generator=g, dtype=torch.float64).to(s.pos.dtype)
    c = s.cutoff.clone().requires_grad_(True)
    out = model(s.to_data(cutoff=c))
    grads = []
    for name, scalar in [
        ("energy", out["energy"].sum()),
        ("forces", (out["forces"] * direction).sum()),
    ]:
        if not scalar.requires_grad:
            raise AssertionError(
                f"{s.name}: {name} is not differentiable with respect to data.cutoff (the model "
                "must keep the autograd graph, create_graph=True, when cutoffs require grad)"
            )
        (grad,) = torch.autograd.grad(scalar, c, retain_graph=True, allow_unused=True)
        grads.append(torch.zeros_like(c) if grad is None else grad)
    r_max = float(model.r_max)
    ok = ((s.cutoff + step <= r_max) & (s.cutoff - step > 0)).nonzero().squeeze(1)
    if ok.numel() == 0:
        raise ValueError(f"{s.name}: no cutoff can move by {step} inside (0, r_max]")
    atoms = ok[torch.randperm(ok.numel(), generator=g)[:num_checks]].tolist()
    fd_e, fd_f = [], []
    for k in atoms:
        res = []
        for sign in (1.0, -1.0):
            cut = s.cutoff.clone()
            cut[k] += sign * step
            o = run(model, s, cutoff=cut)
            res.append((o["energy"].sum(), (o["forces"] * direction).sum()))
        fd_e.append((res[0][0] - res[1][0]) / (2 * step))
        fd_f.append((res[0][1] - res[1][1]) / (2 * step))
    where = f"cutoff derivatives of {s.name}, atoms {atoms}"
    close("dE/dcutoff", grads[0][atoms], torch.stack(fd_e), atol, rtol, where)
    close("d(forces.v)/dcutoff", grads[1][atoms], torch.stack(fd_f), atol, rtol, where)
