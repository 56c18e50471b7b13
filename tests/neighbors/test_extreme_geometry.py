"""The neighbour search cannot crash or explode on extreme geometry (issue 15).

vesin's cell list dies with SIGFPE on very elongated / flat point sets; these run in a
subprocess so that a regression shows up as a failed test, not a dead test runner.
"""

import subprocess
import sys

import pytest
import torch

from pyg_fcl.neighbors import radius_graph

_CHILD = """
import torch
from pyg_fcl.neighbors import radius_graph
g = torch.Generator().manual_seed(0)
for d in (6e5, 1e7):
    pos = torch.tensor([[0.0, 0, 0], [d, 0, 0], [d + 1.0, 0, 0]], dtype=torch.float64)
    ei, _ = radius_graph(pos, 5.0, backend="vesin", sort=True)
    assert ei.tolist() == [[2, 1], [1, 2]], ei
pos = torch.rand(300, 3, generator=g, dtype=torch.float64) * torch.tensor([2e3, 2e3, 0.0])
a = radius_graph(pos, 5.0, backend="vesin", sort=True)
b = radius_graph(pos, 5.0, backend="brute", sort=True)
assert all(torch.equal(x, y) for x, y in zip(a, b))
print("fine")
"""


def test_huge_nonperiodic_extent_does_not_crash_and_is_exact():
    pytest.importorskip("vesin_torch")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "fine" in proc.stdout


def test_absurd_density_is_refused_before_allocating():
    # one atom in a 0.05 Å cell: ~4 million neighbours per atom at 5 Å
    with pytest.raises(ValueError, match=r"neighbours per atom.*nm instead of Å"):
        radius_graph(torch.zeros(1, 3), 5.0, cell=torch.eye(3) * 0.05)


def test_absurdly_anisotropic_periodic_cell_is_refused():
    pytest.importorskip("vesin_torch")
    cell = torch.diag(torch.tensor([1e5, 1e5, 1.0]))
    with pytest.raises(ValueError, match="too anisotropic"):
        radius_graph(torch.zeros(2, 3), 5.0, cell=cell, backend="vesin")
