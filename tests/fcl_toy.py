"""A tiny cutoff-flexible pair model for fast tests of backbone-agnostic code.

It is a real FCL model (smooth envelope, cutoff-aware radial MLP, autograd forces and stress),
just small: E = sum_i E0[z_i] + sum_{edges} u(r_ij / rc_ij) * MLP(r_ij, rc_ij, z_i, z_j).
"""

from __future__ import annotations

import torch
from torch import nn

from pyg_fcl import FCLModel


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

    def node_energy(self, graph):
        j, i = graph.edge_index
        feats = torch.cat(
            [
                graph.edge_length[:, None] / self.r_max,
                graph.edge_cutoff[:, None] / self.r_max,
                self.embed(graph.z[i]),
                self.embed(graph.z[j]),
            ],
            dim=-1,
        ).to(graph.edge_length.dtype)
        pair = self.mlp(feats).squeeze(-1) * graph.envelope
        return torch.zeros_like(graph.pos[:, 0]).index_add(0, i, 0.5 * pair)
