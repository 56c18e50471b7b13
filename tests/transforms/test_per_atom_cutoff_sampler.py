import io

import pytest
import torch
from fcl_transforms_ref import atoms_to_data
from torch_geometric.data import Batch, Data

from pyg_fcl.transforms import FlexibleRadiusGraph, PerAtomCutoffSampler


def two_element_batch(num_graphs=300):
    """Graphs of 4 atoms, two of element 1 and two of element 8 (interleaved)."""
    z = torch.tensor([1, 8, 1, 8])
    data = [
        Data(z=z, pos=torch.randn(4, 3, generator=torch.Generator().manual_seed(k)))
        for k in range(num_graphs)
    ]
    return Batch.from_data_list(data)


def distinct_per_graph(cutoff, num_graphs, size=4):
    return [len(set(row.tolist())) for row in cutoff.view(num_graphs, size)]


def test_atom_mode_range_dtype_and_uniformity():
    data = Data(pos=torch.zeros(20000, 3, dtype=torch.float32), z=torch.ones(20000).long())
    sampler = PerAtomCutoffSampler(3.5, 7.0, seed=0)
    out = sampler(data)
    c = out.cutoff
    assert c.shape == (20000,) and c.dtype == torch.float32 and "cutoff" not in data
    assert float(c.min()) >= 3.5 and float(c.max()) <= 7.0
    # uniform on [3.5, 7]: deciles at 3.5 + 0.35 k (sd of an empirical decile ~0.01)
    deciles = torch.quantile(c.double(), torch.linspace(0.1, 0.9, 9, dtype=torch.float64))
    torch.testing.assert_close(
        deciles, 3.5 + 0.35 * torch.arange(1, 10).double(), atol=0.05, rtol=0
    )
    assert not torch.equal(sampler(data).cutoff, c)  # fresh every call
    assert sampler(Data(pos=torch.zeros(3, 3, dtype=torch.float64))).cutoff.dtype == torch.float64


def test_seed_and_generator_reproducible():
    data = two_element_batch(5)
    draws = [PerAtomCutoffSampler(3.5, 7.0, mode="mixture", seed=11)(data).cutoff for _ in range(2)]
    assert torch.equal(*draws)
    assert not torch.equal(draws[0], PerAtomCutoffSampler(3.5, 7.0, seed=12)(data).cutoff)
    gens = [torch.Generator().manual_seed(3) for _ in range(2)]
    a, b = (PerAtomCutoffSampler(2.0, 6.0, generator=g) for g in gens)
    for _ in range(3):
        assert torch.equal(a(data).cutoff, b(data).cutoff)
    torch.manual_seed(5)
    first = PerAtomCutoffSampler(2.0, 6.0)(data).cutoff
    torch.manual_seed(5)
    assert torch.equal(first, PerAtomCutoffSampler(2.0, 6.0)(data).cutoff)


@pytest.mark.parametrize("mode", ["atom", "structure", "element", "mixture"])
def test_state_round_trip_resumes_the_same_draws(mode):
    data = two_element_batch(4)
    sampler = PerAtomCutoffSampler(3.5, 7.0, mode=mode, seed=1, p_rmax=0.3)
    for _ in range(3):
        sampler(data)
    buffer = io.BytesIO()
    torch.save(sampler.state_dict(), buffer)
    expected = [sampler(data).cutoff for _ in range(3)]
    resumed = PerAtomCutoffSampler(3.5, 7.0, mode=mode, seed=999, p_rmax=0.3)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer))
    for e in expected:
        assert torch.equal(resumed(data).cutoff, e)
    with pytest.raises(ValueError, match="no 'generator'"):
        resumed.load_state_dict({})


def test_structure_and_element_modes():
    batch = two_element_batch(50)
    c = PerAtomCutoffSampler(3.5, 7.0, mode="structure", seed=0)(batch).cutoff.view(50, 4)
    assert bool((c == c[:, :1]).all()) and len(set(c[:, 0].tolist())) == 50
    c = PerAtomCutoffSampler(3.5, 7.0, mode="element", seed=0)(batch).cutoff.view(50, 4)
    assert torch.equal(c[:, 0], c[:, 2]) and torch.equal(c[:, 1], c[:, 3])
    assert len(set(c[:, :2].flatten().tolist())) == 100  # per element *and* per structure
    single = Data(z=torch.tensor([6, 1, 6, 1, 1]), pos=torch.zeros(5, 3))
    c = PerAtomCutoffSampler(3.5, 7.0, mode="structure", seed=0)(single).cutoff
    assert len(set(c.tolist())) == 1
    c = PerAtomCutoffSampler(3.5, 7.0, mode="element", seed=0)(single).cutoff
    assert c[0] == c[2] and c[1] == c[3] == c[4] and c[0] != c[1]
    with pytest.raises(ValueError, match="needs data.z"):
        PerAtomCutoffSampler(3.5, 7.0, mode="element")(Data(pos=torch.zeros(2, 3)))


def test_mixture_draws_modes_with_given_probabilities():
    batch = two_element_batch(400)
    mixture = {"atom": 0.5, "structure": 0.25, "element": 0.25}
    sampler = PerAtomCutoffSampler(3.5, 7.0, mode="mixture", seed=4, mixture=mixture)
    counts = distinct_per_graph(sampler(batch).cutoff, 400)
    # 4 distinct values: atom mode, 2: element mode, 1: structure mode (binomial sd <= 0.025)
    freq = {k: counts.count(k) / 400 for k in (1, 2, 4)}
    assert sum(freq.values()) == 1.0
    assert freq[4] == pytest.approx(0.5, abs=0.08)
    assert freq[1] == pytest.approx(0.25, abs=0.08) and freq[2] == pytest.approx(0.25, abs=0.08)
    only = PerAtomCutoffSampler(3.5, 7.0, mode="mixture", seed=4, mixture={"structure": 2.0})
    assert set(distinct_per_graph(only(batch).cutoff, 400)) == {1}


def test_p_rmax_sets_whole_structures_to_r_max():
    batch = two_element_batch(400)
    c = PerAtomCutoffSampler(3.5, 7.0, seed=0, p_rmax=1.0)(batch).cutoff
    assert bool((c == 7.0).all())
    c = PerAtomCutoffSampler(3.5, 7.0, seed=0, p_rmax=0.3)(batch).cutoff.view(400, 4)
    at_rmax = (c == 7.0).all(dim=1)
    assert float(at_rmax.double().mean()) == pytest.approx(0.3, abs=0.08)
    assert not bool((c[~at_rmax] == 7.0).any())


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"r_min": 0.0, "r_max": 5.0}, "0 < r_min <= r_max"),
        ({"r_min": 6.0, "r_max": 5.0}, "r_min=6.0, r_max=5.0"),
        ({"r_min": 1.0, "r_max": float("inf")}, "r_max=inf"),
        ({"r_min": 1.0, "r_max": 5.0, "mode": "graph"}, "unknown mode 'graph'"),
        ({"r_min": 1.0, "r_max": 5.0, "mixture": {"atom": 1.0}}, "only used with mode='mixture'"),
        ({"r_min": 1.0, "r_max": 5.0, "mode": "mixture", "mixture": {"bond": 1.0}}, "'bond'"),
        ({"r_min": 1.0, "r_max": 5.0, "mode": "mixture", "mixture": {"atom": -1.0}}, ">= 0"),
        ({"r_min": 1.0, "r_max": 5.0, "p_rmax": 1.5}, "p_rmax=1.5"),
        ({"r_min": 1.0, "r_max": 5.0, "seed": 1, "generator": torch.Generator()}, "not both"),
    ],
)
def test_invalid_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        PerAtomCutoffSampler(**kwargs)


def test_sampled_cutoffs_feed_the_graph_and_repr(structures):
    # float32 positions and an r_max that float32 cannot represent exactly
    data = atoms_to_data(structures["benzene_crystal"], dtype=torch.float32)
    sampler = PerAtomCutoffSampler(3.5, 5.1, seed=0, p_rmax=0.5)
    graph = FlexibleRadiusGraph(5.1)
    for _ in range(3):
        data = graph(sampler(data))
        assert data.cutoff.dtype == torch.float32 and data.edge_index.size(1) > 0
    assert repr(PerAtomCutoffSampler(3.5, 7.0)) == (
        "PerAtomCutoffSampler(r_min=3.5, r_max=7.0, mode='atom')"
    )
    assert repr(PerAtomCutoffSampler(3.5, 7.0, mode="structure", seed=3, p_rmax=0.1)) == (
        "PerAtomCutoffSampler(r_min=3.5, r_max=7.0, mode='structure', p_rmax=0.1, seed=3)"
    )
