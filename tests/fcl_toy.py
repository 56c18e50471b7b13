"""A tiny cutoff-flexible pair model for fast tests of backbone-agnostic code.

It is a real FCL model (smooth envelope, cutoff-aware radial MLP, autograd forces and stress),
just small: E = sum_i E0[z_i] + sum_{edges} u(r_ij / rc_ij) * MLP(r_ij, rc_ij, z_i, z_j).
"""

from __future__ import annotations

import torch
from torch import nn

from pyg_fcl import FCLModel
from pyg_fcl.neighbors import edge_vectors
from pyg_fcl.nn import apply_strain, forces_and_stress, polynomial_envelope


class ToyPairModel(FCLModel):
    def __init__(self, r_max=5.0, r_min=None, edge_rule="mean", elements=(1, 6, 7, 8), hidden=16):
        super().__init__(r_max=r_max, r_min=r_min, edge_rule=edge_rule, elements=elements)
        self.hidden = hidden
        self.embed = nn.Embedding(119, 4)
        self.mlp = nn.Sequential(nn.Linear(10, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def config(self):
        return dict(
            r_max=self.r_max,
            r_min=self.r_min,
            edge_rule=self.edge_rule,
            elements=list(self.elements),
            hidden=self.hidden,
        )

    def forward(self, data, compute_stress=False, prune=True):
        data = self.prepare(data, prune=prune)
        num_graphs = int(data.batch.max()) + 1 if data.batch.numel() else 1
        geo = apply_strain(data.pos, data.cell, data.batch, num_graphs, compute_stress)
        vec = edge_vectors(geo.pos, data.edge_index, data.edge_shift, geo.cell, data.batch)
        r = vec.norm(dim=-1)
        rc = self.edge_cutoff(data)
        j, i = data.edge_index
        feats = torch.cat(
            [
                r[:, None] / self.r_max,
                rc[:, None] / self.r_max,
                self.embed(data.z[i]),
                self.embed(data.z[j]),
            ],
            dim=-1,
        ).to(r.dtype)
        pair = self.mlp(feats).squeeze(-1) * polynomial_envelope(r, rc)
        raw = torch.zeros_like(data.pos[:, 0]).index_add(0, i, 0.5 * pair)
        node_energy = self.normalize_energy(raw, data.z)
        energy = torch.zeros(num_graphs, dtype=r.dtype, device=r.device).index_add(
            0, data.batch, node_energy
        )
        keep = self.training or data.cutoff.requires_grad  # second order w.r.t. cutoffs
        forces, stress = forces_and_stress(energy, geo, create_graph=keep)
        out = {"energy": energy, "node_energy": node_energy, "forces": forces}
        if stress is not None:
            out["stress"] = stress
        return out
