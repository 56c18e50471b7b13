import pytest
import torch
from fcl_transforms_ref import STRUCTURE_NAMES, X23, atoms_to_data, brute_force_edges, graph_edges
from torch_geometric.data import Batch

import pyg_fcl.neighbors as neighbors
from pyg_fcl.transforms import EDGE_RULES, FlexibleRadiusGraph

R_MAX = 5.0


def random_cutoffs(n, seed, r_min=2.0, r_max=R_MAX):
    g = torch.Generator().manual_seed(seed)
    cutoff = r_min + (r_max - r_min) * torch.rand(n, generator=g, dtype=torch.float64)
    cutoff[::4] = r_max  # the endpoint is allowed
    return cutoff


def assert_same_edges(got, expected):
    assert set(got) == set(expected)
    for key, (ec, length) in expected.items():
        assert got[key][0] == pytest.approx(ec, rel=1e-12)
        assert got[key][1] == pytest.approx(length, rel=1e-9)


def batch_reference(atoms_list, cutoffs, rule):
    expected, offset = {}, 0
    for atoms, cutoff in zip(atoms_list, cutoffs):
        for (j, i, *s), value in brute_force_edges(atoms, cutoff.numpy(), rule).items():
            expected[(j + offset, i + offset, *s)] = value
        offset += len(atoms)
    return expected


@pytest.fixture
def spy(monkeypatch):
    calls = []
    real = neighbors.radius_graph

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(neighbors, "radius_graph", counting)
    return calls


@pytest.mark.parametrize("rule", EDGE_RULES)
@pytest.mark.parametrize("name", STRUCTURE_NAMES)
def test_single_structure_matches_brute_force(name, rule, structures):
    atoms = structures[name]
    data = atoms_to_data(atoms)
    data.cutoff = random_cutoffs(len(atoms), seed=len(name))
    out = FlexibleRadiusGraph(R_MAX, edge_rule=rule)(data)
    assert_same_edges(graph_edges(out), brute_force_edges(atoms, data.cutoff.numpy(), rule))
    assert out.edge_index.dtype == torch.long and out.edge_shift.dtype == torch.long
    assert out.edge_cutoff.shape == out.edge_length.shape == (out.edge_index.size(1),)


@pytest.mark.parametrize("rule", EDGE_RULES)
def test_mixed_batch_matches_brute_force(rule, structures):
    names = ["small_triclinic", "benzene_gas", "ethylcarbamate_triclinic", "slab_xy", "cluster"]
    atoms_list = [structures[n] for n in names]
    cutoffs = [random_cutoffs(len(a), seed=k) for k, a in enumerate(atoms_list)]
    batch = Batch.from_data_list([atoms_to_data(a) for a in atoms_list])
    batch.cutoff = torch.cat(cutoffs)
    out = FlexibleRadiusGraph(R_MAX, edge_rule=rule)(batch)
    assert_same_edges(graph_edges(out), batch_reference(atoms_list, cutoffs, rule))


def test_second_call_reuses_search_and_reprunes(spy, structures):
    atoms = structures["ethylcarbamate_triclinic"]
    transform = FlexibleRadiusGraph(R_MAX)
    data = atoms_to_data(atoms)
    data.cutoff = random_cutoffs(len(atoms), seed=1)
    data = transform(data)
    assert spy == [R_MAX]
    for seed in (2, 3):
        data.cutoff = random_cutoffs(len(atoms), seed=seed, r_min=1.0)
        data = transform(data)
        assert_same_edges(graph_edges(data), brute_force_edges(atoms, data.cutoff.numpy(), "mean"))
    # another rule reuses the same cache
    data = FlexibleRadiusGraph(R_MAX, edge_rule="receiver")(data)
    assert_same_edges(graph_edges(data), brute_force_edges(atoms, data.cutoff.numpy(), "receiver"))
    assert spy == [R_MAX]
    # a smaller r_max prunes the larger cache; a larger one searches again
    data.cutoff = random_cutoffs(len(atoms), seed=4, r_min=1.0, r_max=3.0)
    data = FlexibleRadiusGraph(3.0)(data)
    assert_same_edges(graph_edges(data), brute_force_edges(atoms, data.cutoff.numpy(), "mean"))
    assert spy == [R_MAX]
    FlexibleRadiusGraph(6.0)(data)
    assert spy == [R_MAX, 6.0]


def test_rebuild_and_clear_cache_search_again(spy, structures):
    atoms = structures["small_triclinic"]
    transform = FlexibleRadiusGraph(R_MAX)
    data = transform(atoms_to_data(atoms))
    moved = data.clone()
    moved.pos = moved.pos + 0.4 * torch.randn(
        moved.pos.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    atoms.positions = moved.pos.numpy()
    out = FlexibleRadiusGraph(R_MAX, rebuild=True)(moved)
    assert len(spy) == 2
    assert_same_edges(graph_edges(out), brute_force_edges(atoms, out.cutoff.numpy(), "mean"))
    cleared = FlexibleRadiusGraph.clear_cache(moved.clone())
    assert not any(key.startswith("rmax_") for key in cleared.keys())
    assert_same_edges(graph_edges(transform(cleared)), graph_edges(out))
    assert len(spy) == 3


def test_batch_of_cached_data_equals_batch_search(spy, structures):
    names = ["benzene_crystal", "cluster", "one_atom_periodic", "isolated_atom", "slab_xy"]
    transform = FlexibleRadiusGraph(R_MAX, edge_rule="min")
    data_list = []
    for k, name in enumerate(names):
        data = atoms_to_data(structures[name])
        data.cutoff = random_cutoffs(data.num_nodes, seed=10 + k)
        data_list.append(data)
    cached = Batch.from_data_list([transform(d) for d in data_list])
    assert len(spy) == len(names)
    assert cached.rmax_graph_cutoff.shape == (len(names),)
    assert cached.rmax_edge_index.max() < cached.num_nodes
    reused = transform(cached)
    assert len(spy) == len(names)  # no new search
    searched = transform(Batch.from_data_list(data_list))
    assert len(spy) == len(names) + 1
    assert_same_edges(graph_edges(reused), graph_edges(searched))
    # and the cache separates back into the original structures
    for original, part in zip(data_list, reused.to_data_list()):
        assert_same_edges(graph_edges(transform(part)), graph_edges(transform(original)))


def test_missing_cutoff_means_r_max(structures):
    atoms = structures["benzene_crystal"]
    out = FlexibleRadiusGraph(R_MAX, edge_rule="geometric")(atoms_to_data(atoms))
    assert out.cutoff.shape == (len(atoms),) and bool((out.cutoff == R_MAX).all())
    out.cutoff[0] = 1.0  # a real tensor, not a broadcast view
    assert float(out.cutoff[1]) == R_MAX
    expected = brute_force_edges(atoms, torch.full((len(atoms),), R_MAX).numpy(), "geometric")
    assert_same_edges(graph_edges(out), expected)
    scalar = atoms_to_data(atoms)
    scalar.cutoff = torch.tensor(3.5, dtype=torch.float64)
    out = FlexibleRadiusGraph(R_MAX)(scalar)
    assert out.cutoff.shape == (len(atoms),)
    assert_same_edges(graph_edges(out), brute_force_edges(atoms, out.cutoff.numpy(), "mean"))


@pytest.mark.parametrize(
    "bad, message",
    [
        (-1.0, "-1.0"),
        (0.0, "0.0"),
        (5.5, "5.5"),
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
    ],
)
def test_invalid_cutoff_raises_with_value_and_atom(bad, message, structures):
    names = ["cluster", "benzene_gas"]
    batch = Batch.from_data_list([atoms_to_data(structures[n]) for n in names])
    batch.cutoff = torch.full((batch.num_nodes,), 4.0, dtype=torch.float64)
    batch.cutoff[15] = bad
    with pytest.raises(ValueError, match=message) as err:
        FlexibleRadiusGraph(R_MAX)(batch)
    assert "atom 15" in str(err.value) and "structure 1, atom 3" in str(err.value)


def test_invalid_inputs_raise(structures):
    data = atoms_to_data(structures["cluster"])
    data.cutoff = torch.full((5,), 4.0)
    with pytest.raises(ValueError, match=r"shape \[num_nodes\] = \[12\]"):
        FlexibleRadiusGraph(R_MAX)(data)
    with pytest.raises(ValueError, match="edge rule 'avg'.*mean, receiver, min, max, geometric"):
        FlexibleRadiusGraph(R_MAX, edge_rule="avg")
    with pytest.raises(ValueError, match="r_max"):
        FlexibleRadiusGraph(-1.0)
    periodic = atoms_to_data(structures["small_triclinic"])
    del periodic.cell
    with pytest.raises(ValueError, match="cell is missing"):
        FlexibleRadiusGraph(R_MAX)(periodic)


def test_edge_cutoff_gradient_flows_to_cutoff(structures):
    data = atoms_to_data(structures["ethylcarbamate_triclinic"])
    cutoff = random_cutoffs(data.num_nodes, seed=5).requires_grad_()
    data.cutoff = cutoff
    out = FlexibleRadiusGraph(R_MAX)(data)
    assert out.cutoff is cutoff
    out.edge_cutoff.sum().backward()
    # mean rule: each edge contributes 1/2 to both of its atoms' cutoffs
    degree = torch.bincount(out.edge_index.flatten(), minlength=data.num_nodes)
    torch.testing.assert_close(cutoff.grad, 0.5 * degree.double())
    assert not out.edge_length.requires_grad


def test_no_cutoff_no_periodicity_keys_and_float32(structures):
    atoms = structures["cluster"]
    data = atoms_to_data(atoms, dtype=torch.float32)
    del data.cell, data.pbc
    data.cutoff = random_cutoffs(len(atoms), seed=3).float()
    out = FlexibleRadiusGraph(R_MAX, edge_rule="max")(data)
    assert out.edge_cutoff.dtype == torch.float32
    expected = brute_force_edges(atoms, data.cutoff.double().numpy(), "max")
    got = graph_edges(out)
    assert set(got) == set(expected)
    assert not bool(out.edge_shift.any())


def test_input_untouched_and_repr(structures):
    data = atoms_to_data(structures["cluster"])
    out = FlexibleRadiusGraph(R_MAX)(data)
    assert "rmax_edge_index" in out and "rmax_edge_index" not in data
    assert repr(FlexibleRadiusGraph(4.5, "receiver", backend="brute")) == (
        "FlexibleRadiusGraph(r_max=4.5, edge_rule='receiver', backend='brute')"
    )
    assert "rebuild=True" in repr(FlexibleRadiusGraph(4.5, rebuild=True))


def test_brute_backend_on_mixed_batch(structures):
    names = ["small_triclinic", "slab_xy", "benzene_gas"]
    atoms_list = [structures[n] for n in names]
    cutoffs = [random_cutoffs(len(a), seed=20 + k) for k, a in enumerate(atoms_list)]
    batch = Batch.from_data_list([atoms_to_data(a) for a in atoms_list])
    batch.cutoff = torch.cat(cutoffs)
    out = FlexibleRadiusGraph(R_MAX, edge_rule="receiver", backend="brute")(batch)
    assert_same_edges(graph_edges(out), batch_reference(atoms_list, cutoffs, "receiver"))


def test_pipeline_on_read_structures_with_dataloader():
    from torch_geometric.loader import DataLoader

    from pyg_fcl.data import data_to_atoms, read_structures
    from pyg_fcl.transforms import PerAtomCutoffSampler

    path = X23 / "10_ethylcarbamate.xyz"
    frames = read_structures(path, index="::60", dtype=torch.float64)  # crystals and gas boxes
    graph = FlexibleRadiusGraph(R_MAX)
    cached = [graph(d) for d in frames]  # search once per structure
    sampler = PerAtomCutoffSampler(2.5, R_MAX, mode="mixture", seed=0)
    for batch in DataLoader(cached, batch_size=2):
        out = graph(sampler(batch))
        atoms_list = [data_to_atoms(d) for d in batch.to_data_list()]
        expected = batch_reference(
            atoms_list, list(out.cutoff.split(batch.ptr.diff().tolist())), "mean"
        )
        assert_same_edges(graph_edges(out), expected)
