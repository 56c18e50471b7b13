"""FCL-MACE: a MACE-style equivariant potential that knows its per-atom cutoffs.

See ``docs/model.md`` for the equations. In short, per layer ``t``:

* ``A_i = W sum_j TP(W_up h_j, Y(r_ij); R(r_ij, r_ij^c) u(r_ij / r_ij^c)) / avg_num_neighbors``
  (``neighbor_normalization="cutoff"``: divided by ``avg_num_neighbors * (r_i^c / r_max)^3``),
  the radial weights ``R`` an MLP of a Bessel basis on the fixed ``r_max`` and of the edge cutoff
  ``r_ij^c`` (from the atoms' cutoffs by the edge rule), ``u`` the polynomial envelope;
* ``h_i = W' B(A_i; z_i) + W_z h_i`` with ``B`` the symmetric many-body product of correlation
  order ``N`` and element-dependent weights;
* ``E_i = sum_t readout_t(h_i)``, then ``scale * E_i + shift + E0[z_i]``.

The initial features are a species embedding plus an MLP of the atom's own cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from e3nn import o3
from torch import Tensor, nn

from pyg_fcl import FCLModel, ModelGraph
from pyg_fcl.nn import PolynomialEnvelope

from .blocks import (
    ElementGroups,
    ElementLinear,
    InteractionBlock,
    LinearReadout,
    NonLinearReadout,
    ProductBlock,
)
from .convolution import Neighborhood
from .radial import AtomCutoffMLP, BesselBasis, CutoffBasis, RadialWeights

__all__ = ["FCLMACE"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _sh_irreps(l_max: int, mul: int = 1) -> o3.Irreps:
    return o3.Irreps([(mul, (l, (-1) ** l)) for l in range(l_max + 1)])


class FCLMACE(FCLModel):
    """MACE-style model with flexible per-atom cutoffs.

    Args:
        r_max (float): largest cutoff (Å): the neighbour search radius and the Bessel basis range.
        r_min (float, optional): smallest trained cutoff (default ``r_max``).
        elements (Sequence[int]): atomic numbers the model knows.
        edge_rule (str): edge cutoff rule (``"mean"``, ``"receiver"``, ...).
        num_channels (int): channels ``C`` of every irrep.
        l_max (int): degree of the edge spherical harmonics and of the atomic basis.
        hidden_l_max (int): degree of the node features between layers (MACE's ``max_L``).
        correlation (int): order of the many-body product (body order ``correlation + 1``).
        num_interactions (int): message-passing layers (>= 1; the last keeps only scalars).
        num_bessel (int): radial Bessel functions.
        num_cutoff_basis (int): Gaussians expanding each cutoff (edge and atom).
        radial_mlp (Sequence[int]): hidden widths of the radial MLP.
        cutoff_embedding_hidden (int): hidden width of the per-atom cutoff embedding MLP.
        readout_hidden (int): hidden scalars of the last (non-linear) readout.
        avg_num_neighbors (float): normalisation of the neighbour sum (its mean at ``r_max``).
        envelope_p (int): order of the polynomial envelope.
        neighbor_normalization (str): how the neighbour sum of atom ``i`` is normalised.
            ``"r_max"`` (default; what MACE does): by ``avg_num_neighbors`` whatever the cutoff,
            so an atom's atomic basis shrinks with ``(r_c / r_max)^3`` as its cutoff shrinks and
            the model has to learn to undo that. ``"cutoff"``: by the neighbour count expected
            at the atom's own cutoff, ``avg_num_neighbors * (r_c,i / r_max)^3`` (a smooth,
            differentiable function of the cutoff; identical to ``"r_max"`` at ``r_max``).
        dtype (str): ``"float32"`` or ``"float64"``.
        neighbor_backend (str): backend of the neighbour search.
    """

    def __init__(
        self,
        r_max: float = 6.0,
        r_min: float | None = None,
        elements: Sequence[int] = (),
        edge_rule: str = "mean",
        num_channels: int = 64,
        l_max: int = 3,
        hidden_l_max: int = 1,
        correlation: int = 3,
        num_interactions: int = 2,
        num_bessel: int = 8,
        num_cutoff_basis: int = 8,
        radial_mlp: Sequence[int] = (64, 64, 64),
        cutoff_embedding_hidden: int = 32,
        readout_hidden: int = 16,
        avg_num_neighbors: float = 10.0,
        envelope_p: int = 5,
        neighbor_normalization: str = "r_max",
        dtype: str = "float32",
        neighbor_backend: str = "auto",
    ) -> None:
        super().__init__(
            r_max=r_max,
            r_min=r_min,
            edge_rule=edge_rule,
            elements=elements,
            neighbor_backend=neighbor_backend,
            envelope=PolynomialEnvelope(envelope_p),
        )
        if not self.elements:
            raise ValueError("FCLMACE: elements must list at least one atomic number")
        if dtype not in _DTYPES:
            raise ValueError(f"FCLMACE: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if num_interactions < 1 or correlation < 1 or l_max < 0 or num_channels < 1:
            raise ValueError(
                f"FCLMACE: need num_interactions, correlation, num_channels >= 1 and l_max >= 0 "
                f"(got {num_interactions}, {correlation}, {num_channels}, {l_max})"
            )
        if not 0 <= hidden_l_max <= l_max:
            raise ValueError(f"FCLMACE: need 0 <= hidden_l_max <= l_max, got {hidden_l_max}")
        if neighbor_normalization not in ("r_max", "cutoff"):
            raise ValueError(
                "FCLMACE: neighbor_normalization must be 'r_max' or 'cutoff', "
                f"got {neighbor_normalization!r}"
            )
        if not avg_num_neighbors > 0:
            raise ValueError(f"FCLMACE: avg_num_neighbors must be > 0, got {avg_num_neighbors}")
        self._config = dict(
            num_channels=int(num_channels),
            l_max=int(l_max),
            hidden_l_max=int(hidden_l_max),
            correlation=int(correlation),
            num_interactions=int(num_interactions),
            num_bessel=int(num_bessel),
            num_cutoff_basis=int(num_cutoff_basis),
            radial_mlp=[int(w) for w in radial_mlp],
            cutoff_embedding_hidden=int(cutoff_embedding_hidden),
            readout_hidden=int(readout_hidden),
            avg_num_neighbors=float(avg_num_neighbors),
            envelope_p=int(envelope_p),
            neighbor_normalization=str(neighbor_normalization),
        )
        self.neighbor_backend = neighbor_backend
        num_elements = len(self.elements)
        species = torch.full((119,), -1, dtype=torch.long)
        species[self.elements] = torch.arange(num_elements)
        self.register_buffer("species_index", species, persistent=False)

        c = num_channels
        irreps_scalar = o3.Irreps(f"{c}x0e")
        irreps_hidden = _sh_irreps(hidden_l_max, c)
        irreps_a = _sh_irreps(l_max, c)

        self.species_embedding = nn.Parameter(torch.randn(num_elements, c))
        self.cutoff_basis = CutoffBasis(self.r_min, self.r_max, num_cutoff_basis)
        self.cutoff_embedding = AtomCutoffMLP(num_cutoff_basis, cutoff_embedding_hidden, c)
        self.bessel = BesselBasis(self.r_max, num_bessel)
        self.spherical_harmonics = o3.SphericalHarmonics(
            _sh_irreps(l_max), normalize=True, normalization="component"
        )

        self.interactions = nn.ModuleList()
        self.radials = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.products = nn.ModuleList()
        self.readouts = nn.ModuleList()
        irreps_in = irreps_scalar
        for layer in range(num_interactions):
            last = layer == num_interactions - 1
            irreps_out = irreps_scalar if last else irreps_hidden
            interaction = InteractionBlock(irreps_in, l_max, irreps_a, avg_num_neighbors)
            self.interactions.append(interaction)
            self.radials.append(
                RadialWeights(num_bessel, num_cutoff_basis, radial_mlp, interaction.weight_numel)
            )
            self.skips.append(ElementLinear(irreps_in, irreps_out, num_elements))
            self.products.append(ProductBlock(c, l_max, irreps_out, correlation, num_elements))
            self.readouts.append(
                NonLinearReadout(irreps_out, readout_hidden) if last else LinearReadout(irreps_out)
            )
            irreps_in = irreps_out
        self.to(_DTYPES[dtype])

    # ------------------------------------------------------------------ interface
    @property
    def dtype(self) -> torch.dtype:
        """Floating-point dtype of the parameters."""
        return self.species_embedding.dtype

    def config(self) -> dict:
        """Constructor keyword arguments (plain Python values), for checkpoints."""
        return dict(
            r_max=self.r_max,
            r_min=self.r_min,
            elements=list(self.elements),
            edge_rule=self.edge_rule,
            **{k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()},
            dtype=str(self.dtype).removeprefix("torch."),
            neighbor_backend=self.neighbor_backend,
        )

    def node_energy(self, graph: ModelGraph) -> Tensor:
        """Raw per-atom energies ``[N]`` (the base class normalises, sums and differentiates).

        Args:
            graph (ModelGraph): pruned graph with edge vectors, lengths, edge cutoffs and
                envelopes, from :meth:`pyg_fcl.FCLModel.forward`.
        """
        dtype = self.dtype
        cutoff = graph.cutoff.to(dtype)
        edge_cutoff = graph.edge_cutoff.to(dtype)
        vectors = graph.edge_vec.to(dtype)
        lengths = graph.edge_length.to(dtype)
        envelope = graph.envelope.to(dtype)

        # atoms sorted by element (contiguous element blocks), edges laid out per receiver
        groups = ElementGroups.from_species(self.species_index[graph.z], len(self.elements))
        nbr = Neighborhood.from_edges(
            groups.inverse.index_select(0, graph.edge_index[0]),
            groups.inverse.index_select(0, graph.edge_index[1]),
            graph.num_nodes,
        )
        sh = nbr.pad(self.spherical_harmonics(vectors))  # [num_slots, (l_max+1)^2], per receiver
        radial = self.bessel(lengths)
        edge_cutoff_features = self.cutoff_basis(edge_cutoff)

        # initial features: species embedding + embedding of the atom's own cutoff
        sorted_cutoff = cutoff.index_select(0, groups.perm)
        species_emb = torch.cat(
            [self.species_embedding[e].expand(k, -1) for e, k in zip(groups.elements, groups.sizes)]
        )
        h = species_emb + self.cutoff_embedding(self.cutoff_basis(sorted_cutoff))
        if self._config["neighbor_normalization"] == "cutoff":
            # expected neighbours at the atom's own cutoff, relative to r_max: [N, 1, 1]
            inv_count_ratio = (self.r_max / sorted_cutoff).pow(3).reshape(-1, 1, 1)
        else:
            inv_count_ratio = None

        node_energy = torch.zeros_like(sorted_cutoff)
        for interaction, radial_net, skip, product, readout in zip(
            self.interactions, self.radials, self.skips, self.products, self.readouts
        ):
            # per-edge weights (zero past the cutoff), laid out per receiver (zero padding)
            weights = nbr.pad(radial_net(radial, edge_cutoff_features, envelope))
            a = interaction(h, sh, weights, nbr)
            if inv_count_ratio is not None:
                a = a * inv_count_ratio
            h = product(a, skip(h, groups), groups)
            node_energy = node_energy + readout(h)
        return node_energy.index_select(0, groups.inverse)
