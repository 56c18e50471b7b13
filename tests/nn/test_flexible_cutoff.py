"""FlexibleCutoff: envelopes on every message, checked against a hand-written sum; detection of
layers it cannot handle; hook hygiene (no leaks, threads, nesting, copies)."""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import nn
from torch_geometric import EdgeIndex
from torch_geometric.nn import GCNConv, MessagePassing
from torch_geometric.nn.models import SchNet, ViSNet
from torch_geometric.utils import add_self_loops, spmm, to_torch_csr_tensor

from pyg_fcl.nn import polynomial_envelope
from pyg_fcl.nn.flexible_cutoff import CutoffEmbedding, FCLGraph, FlexibleCutoff

DTYPE = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: intra-op threads only add contention on a shared machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class PairConv(MessagePassing):
    """out_i = sum_j emb_j * tanh(lin(r_ij)) (a SchNet-like continuous filter)."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(**{"aggr": "add", **kwargs})
        self.lin = nn.Linear(1, channels)

    def forward(self, x, edge_index, r):
        return self.propagate(edge_index, x=x, r=r)

    def message(self, x_j, r):
        return x_j * torch.tanh(self.lin(r.unsqueeze(-1)))


class ToyNet(nn.Module):
    def __init__(self, conv: MessagePassing | None = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.graph = FCLGraph(("edge_index", "edge_length"))
        self.conv = conv if conv is not None else PairConv(4)

    def forward(self, z):
        edge_index, r = self.graph(z)
        return self.conv(self.embedding(z), edge_index, r)


def random_graph(num_nodes=6, seed=0):
    """All directed pairs of random points; edge cutoffs from random per-atom cutoffs."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(num_nodes, 3, generator=g, dtype=DTYPE) * 3.0
    j, i = torch.meshgrid(torch.arange(num_nodes), torch.arange(num_nodes), indexing="xy")
    keep = i != j
    edge_index = torch.stack([j[keep], i[keep]])
    order = torch.argsort(edge_index[1] * num_nodes + edge_index[0])
    edge_index = edge_index[:, order]
    vec = pos[edge_index[0]] - pos[edge_index[1]]
    cutoff = 1.5 + 2.0 * torch.rand(num_nodes, generator=g, dtype=DTYPE)
    edge_cutoff = 0.5 * (cutoff[edge_index[0]] + cutoff[edge_index[1]])
    z = torch.randint(1, 10, (num_nodes,), generator=g)
    return z, edge_index, vec, edge_cutoff, cutoff


def run(fc, z, edge_index, vec, edge_cutoff, cutoff):
    return fc(z, edge_index=edge_index, edge_vector=vec, edge_cutoff=edge_cutoff, cutoff=cutoff)


def test_messages_times_envelope_match_explicit_sum():
    torch.manual_seed(0)
    net = ToyNet().to(DTYPE)
    fc = FlexibleCutoff(net, r_max=3.5)
    z, edge_index, vec, edge_cutoff, cutoff = random_graph()
    out = run(fc, z, edge_index, vec, edge_cutoff, cutoff)
    # Reference: the sum written out edge by edge, with the envelope from its own formula.
    ref = torch.zeros(z.numel(), 4, dtype=DTYPE)
    emb, lin = net.embedding.weight, net.conv.lin
    for e in range(edge_index.size(1)):
        j, i = int(edge_index[0, e]), int(edge_index[1, e])
        r = float(vec[e].norm())
        x = r / float(edge_cutoff[e])
        u = 0.0 if x >= 1 else 1 - 21 * x**5 + 35 * x**6 - 15 * x**7
        ref[i] += u * emb[z[j]] * torch.tanh(lin(torch.tensor([r], dtype=DTYPE)))
    assert torch.allclose(out, ref, atol=1e-12)
    assert int((vec.norm(dim=-1) >= edge_cutoff).sum()) > 0  # some edges are switched off


def test_constant_envelope_reproduces_unwrapped_schnet():
    """With u = 1 the wrapper changes nothing: same numbers as PyG's own SchNet."""
    torch.manual_seed(0)
    z, edge_index, vec, edge_cutoff, cutoff = random_graph(num_nodes=7, seed=1)
    pos = torch.rand(7, 3, dtype=DTYPE)
    vec = pos[edge_index[0]] - pos[edge_index[1]]

    def brute_graph(p, batch):
        return edge_index, (p[edge_index[0]] - p[edge_index[1]]).norm(dim=-1)

    ref = SchNet(16, 16, 2, 12, cutoff=4.0, interaction_graph=brute_graph).to(DTYPE)
    wrapped = SchNet(16, 16, 2, 12, cutoff=4.0, interaction_graph=FCLGraph()).to(DTYPE)
    wrapped.load_state_dict(ref.state_dict())
    fc = FlexibleCutoff(wrapped, 4.0, envelope=lambda r, rc: torch.ones_like(r))
    out = fc(z, pos, edge_index=edge_index, edge_vector=vec, edge_cutoff=edge_cutoff, cutoff=cutoff)
    assert torch.allclose(out, ref(z, pos), atol=1e-12)


def test_cutoff_embedding_starts_at_zero_and_is_differentiable():
    emb = CutoffEmbedding(5.0, 8).to(DTYPE)
    rc = torch.tensor([2.0, 4.0], dtype=DTYPE, requires_grad=True)
    assert torch.equal(emb(rc), torch.zeros(2, 8, dtype=DTYPE))
    torch.nn.init.normal_(emb.mlp[2].weight)
    emb(rc).sum().backward()
    assert rc.grad.abs().min() > 0

    net = ToyNet().to(DTYPE)
    fc = FlexibleCutoff(net, 3.5, cutoff_embedding="embedding").to(DTYPE)
    z, edge_index, vec, edge_cutoff, cutoff = random_graph()
    plain = FlexibleCutoff(copy.deepcopy(net), 3.5)
    assert torch.allclose(
        run(fc, z, edge_index, vec, edge_cutoff, cutoff),
        run(plain, z, edge_index, vec, edge_cutoff, cutoff),
    )


# ---------------------------------------------------------------------- what cannot be handled
def test_rejects_layer_adding_self_loops_attribute():
    net = ToyNet(GCNConv(4, 4))  # add_self_loops=True by default
    with pytest.raises(ValueError, match=r"layer conv \(GCNConv\) adds self-loops"):
        FlexibleCutoff(net, 3.0)


class HiddenSelfLoops(PairConv):
    def forward(self, x, edge_index, r):
        edge_index, r = add_self_loops(edge_index, r, fill_value=0.0, num_nodes=x.size(0))
        return self.propagate(edge_index, x=x, r=r)


def test_rejects_self_loops_added_at_run_time():
    fc = FlexibleCutoff(ToyNet(HiddenSelfLoops(4)).to(DTYPE), 3.5)
    with pytest.raises(
        ValueError, match=r"conv \(HiddenSelfLoops\) propagates over edges \[2, 36\]"
    ):
        run(fc, *random_graph())
    assert fc.active_graph() is None  # state cleaned up after the error


class SparseConv(MessagePassing):
    """Propagates over a torch.sparse adjacency: PyG's fused message_and_aggregate path.

    (Not a PairConv subclass: PyG caches a generated ``propagate`` per class hierarchy.)
    """

    def __init__(self, channels: int) -> None:
        super().__init__(aggr="add")

    def forward(self, x, edge_index, r):
        return self.propagate(to_torch_csr_tensor(edge_index, size=x.size(0)).t(), x=x)

    def message(self, x_j):
        return x_j

    def message_and_aggregate(self, adj_t, x):
        return spmm(adj_t, x)


class EdgeIndexConv(SparseConv):
    """The FCL edges as an EdgeIndex sorted by receiver: PyG fuses and skips message()."""

    SUPPORTS_FUSED_EDGE_INDEX = True

    def forward(self, x, edge_index, r):
        n = x.size(0)
        return self.propagate(EdgeIndex(edge_index, sparse_size=(n, n), sort_order="col"), x=x)


@pytest.mark.filterwarnings("ignore:Sparse:UserWarning")
@pytest.mark.parametrize(
    "conv, match",
    [
        (SparseConv, r"conv \(SparseConv\) propagates over edges"),
        (EdgeIndexConv, r"conv \(EdgeIndexConv\) runs a fused message_and_aggregate"),
    ],
)
def test_rejects_fused_message_and_aggregate(conv, match):
    fc = FlexibleCutoff(ToyNet(conv(4)).to(DTYPE), 3.5)
    with pytest.raises(ValueError, match=match):
        run(fc, *random_graph())


@pytest.mark.parametrize(
    "kwargs, match",
    [({"aggr": "mean"}, "aggr='mean'"), ({"flow": "target_to_source"}, "flow='target_to_source'")],
)
def test_rejects_non_sum_aggregation_and_reversed_flow(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlexibleCutoff(ToyNet(PairConv(4, **kwargs)), 3.0)


@pytest.mark.parametrize(
    "model, match",
    [
        (lambda: SchNet(8, 8, 1, 8, cutoff=3.0), r"interaction_graph \(RadiusInteractionGraph\)"),
        (
            lambda: ViSNet(num_layers=1, hidden_channels=8, num_heads=2, num_rbf=4),
            r"representation_model.distance \(Distance\)",
        ),
    ],
)
def test_rejects_backbone_building_its_own_capped_graph(model, match):
    with pytest.raises(ValueError, match=match + r" builds its own radius graph \(max_num_neigh"):
        FlexibleCutoff(model(), 3.0)


def test_rejects_backbone_without_message_passing():
    with pytest.raises(ValueError, match="has no torch_geometric MessagePassing layer"):
        FlexibleCutoff(nn.Sequential(nn.Linear(2, 2)), 3.0)


class NoPropagate(ToyNet):
    def forward(self, z):
        self.graph(z)
        return self.embedding(z)  # aggregates nothing through MessagePassing


def test_rejects_forward_that_never_propagates():
    fc = FlexibleCutoff(NoPropagate(), 3.5)
    with pytest.raises(RuntimeError, match="envelopes were never applied"):
        run(fc, *random_graph())


def test_graph_module_outside_wrapper_raises():
    with pytest.raises(RuntimeError, match="outside a FlexibleCutoff forward"):
        FCLGraph()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="returns must be names"):
        FCLGraph(("edge_index", "distance"))


# ---------------------------------------------------------------------- hook hygiene
def hook_counts(module: nn.Module) -> int:
    return sum(
        len(getattr(m, name))
        for m in module.modules()
        for name in (
            "_forward_hooks",
            "_message_forward_hooks",
            "_propagate_forward_pre_hooks",
            "_propagate_forward_hooks",
            "_message_and_aggregate_forward_pre_hooks",
        )
        if hasattr(m, name)
    )


def test_hooks_do_not_leak_and_are_inert_outside_forward():
    torch.manual_seed(0)
    net = ToyNet().to(DTYPE)
    z, edge_index, vec, edge_cutoff, cutoff = random_graph()
    r = vec.norm(dim=-1)
    before = net.conv(net.embedding(z), edge_index, r)
    fc = FlexibleCutoff(net, 3.5, cutoff_embedding="embedding")
    count = hook_counts(net)
    for _ in range(3):
        run(fc, z, edge_index, vec, edge_cutoff, cutoff)
    assert hook_counts(net) == count
    # Outside a wrapped forward the backbone's layers compute exactly what they did before.
    assert torch.equal(net.conv(net.embedding(z), edge_index, r), before)
    fc.remove_hooks()
    assert hook_counts(net) == 0


def test_nested_and_concurrent_forwards_keep_their_own_graphs():
    torch.manual_seed(0)
    fc = FlexibleCutoff(ToyNet().to(DTYPE), 3.5)
    graphs = [random_graph(num_nodes=n, seed=n) for n in (5, 6, 7, 8)]
    expected = [run(fc, *g) for g in graphs]

    with fc.activate(*graphs[0][1:4], cutoff=graphs[0][4]):
        inner = run(fc, *graphs[1])  # a nested forward sees its own graph
        outer = fc.backbone(graphs[0][0])
    assert torch.equal(inner, expected[1]) and torch.equal(outer, expected[0])

    results: dict[int, list[torch.Tensor]] = {}

    def worker(k: int) -> None:
        results[k] = [run(fc, *graphs[k]) for _ in range(20)]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert all(torch.equal(out, expected[k]) for out in results[k])


def test_deepcopy_gets_its_own_working_hooks():
    torch.manual_seed(0)
    fc = FlexibleCutoff(ToyNet().to(DTYPE), 3.5)
    graph = random_graph()
    twin = copy.deepcopy(fc)
    assert torch.equal(run(twin, *graph), run(fc, *graph))
    with torch.no_grad():
        twin.backbone.conv.lin.weight.mul_(2.0)
    assert not torch.allclose(run(twin, *graph), run(fc, *graph))
    # the copy's hooks act on the copy's forwards only
    other = random_graph(num_nodes=5, seed=3)
    expected = run(twin, *other)
    with fc.activate(*graph[1:4], cutoff=graph[4]):
        assert twin.active_graph() is None
        assert torch.equal(run(twin, *other), expected)
        fc.backbone(graph[0])


def test_envelope_gradients_reach_cutoffs_and_positions():
    torch.manual_seed(0)
    fc = FlexibleCutoff(ToyNet().to(DTYPE), 3.5)
    z, edge_index, vec, _, cutoff = random_graph()
    cutoff = cutoff.clone().requires_grad_(True)
    vec = vec.clone().requires_grad_(True)
    edge_cutoff = 0.5 * (cutoff[edge_index[0]] + cutoff[edge_index[1]])
    run(fc, z, edge_index, vec, edge_cutoff, cutoff).sum().backward()
    inside = vec.norm(dim=-1) < edge_cutoff
    assert cutoff.grad.abs().sum() > 0
    assert torch.all(vec.grad[~inside] == 0)  # beyond the cutoff: exactly no gradient
    u = polynomial_envelope(vec.norm(dim=-1), edge_cutoff)
    assert torch.all(u[~inside] == 0)
