"""A pretrained SevenNet (the ``sevenn`` package, MIT) as a cutoff-flexible FCL model.

:class:`FlexibleSevenNet` runs sevenn's own modules (its one-hot embedding table, interaction
blocks, readout and per-species rescaling, built by sevenn's own model builder from the model's
config) on the pyg-fcl graph. What changes:

* the graph: the per-atom-pruned FCL graph instead of sevenn's fixed-radius one;
* the cutoff function: SevenNet applies its XPLOR switch once, to the radial basis of its edge
  embedding, so every message of every layer carries it. Here the same switch is evaluated at the
  edge cutoff (:class:`~pyg_fcl.nn.adapters.sevennet_blocks.XPLOREnvelope`, the model's
  ``envelope``), so at ``r_c = r_max`` nothing changes;
* cutoff conditioning, both starting at exactly zero: an embedding of each atom's cutoff added to
  the initial node features (:class:`~pyg_fcl.nn.CutoffEmbedding`), and per layer a correction of
  the radial features from the edge cutoff
  (:class:`~pyg_fcl.nn.adapters.sevennet_blocks.EdgeCutoffRadial`).

So ``FlexibleSevenNet.from_pretrained("7net-0")`` with every cutoff at 5 Å is SevenNet-0.
With ``anchor_r_max=True`` the conditioning is multiplied by ``1 - r_c / r_max``, so it is zero
at ``r_max`` *whatever its weights*: trained with the pretrained weights frozen
(``TrainConfig(lr_scale={"sevennet.": 0})``), the model stays exactly SevenNet-0 at 5 Å and
learns only to correct its truncation (teacher-preserving distillation).
Install the extra: ``pip install "pyg-fcl[sevenn]"``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ...model import FCLModel
from ..cutoff_embedding import CutoffEmbedding
from ..envelope import PolynomialEnvelope
from .sevennet_blocks import EdgeCutoffRadial, XPLOREnvelope, anchor_gate

__all__ = ["FlexibleSevenNet"]

_MAX_Z = 119
EXTRA_HINT = 'pip install "pyg-fcl[sevenn]" (or: pip install "sevenn>=0.13")'
# sevenn modules that the FCL forward replaces or does not need.
_REPLACED = ("edge_embedding", "onehot_idx_to_onehot", "reduce_total_enegy", "force_output")
# sevenn config keys outside its model defaults that its model builder reads.
_MODEL_EXTRA_KEYS = (
    "version",
    "shift",
    "scale",
    "chemical_species",
    "use_species_wise_shift_scale",
    "use_modality",
    "use_modal_wise_shift",
    "use_modal_wise_scale",
)


def import_sevenn():
    """The ``sevenn`` package, or an ``ImportError`` that names the extra to install."""
    try:
        import sevenn
        import sevenn.model_build  # noqa: F401
        import sevenn.util  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"FlexibleSevenNet needs the optional dependency 'sevenn' ({err}); install it with "
            f"{EXTRA_HINT}"
        ) from err
    return sevenn


def _plain(value: Any) -> Any:
    """``value`` as plain Python (lists, dicts, numbers, strings); ``ValueError`` if impossible."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and tensors
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    raise ValueError(f"not a plain value: {type(value).__name__}")


def model_config(config: dict) -> dict:
    """The part of a sevenn config that builds the model, as plain values (no training keys,
    no devices); accelerated backends (cuEquivariance, FlashTP, OEQ) switched off."""
    sevenn = import_sevenn()
    defaults = sevenn._const.DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG
    keep = set(defaults) | set(_MODEL_EXTRA_KEYS)
    out = {}
    for key, value in config.items():
        if key in keep or (key.startswith("_") and key != "_flash_lammps"):
            try:
                out[key] = _plain(value)
            except ValueError as err:
                raise ValueError(f"sevenn config key {key!r}: {err}") from err
    out.update({"cuequivariance_config": {}, "use_flash_tp": False, "use_oeq": False})
    if out.get("use_modality", False):
        raise ValueError(
            "FlexibleSevenNet: multi-fidelity (modal) SevenNet models are not supported; "
            "use a single-fidelity checkpoint such as 7net-0"
        )
    for key in ("cutoff", "_type_map", "_number_of_species"):
        if key not in out:
            raise ValueError(f"sevenn config has no {key!r}: not a SevenNet model config")
    return out


def _envelope(cfg: dict) -> nn.Module:
    """SevenNet's cutoff function as an envelope of ``(r, r_c)``."""
    spec = dict(cfg.get("cutoff_function", {}))
    name = spec.get("cutoff_function_name")
    if name == "XPLOR":
        return XPLOREnvelope(float(spec["cutoff_on"]) / float(cfg["cutoff"]))
    if name == "poly_cut":
        return PolynomialEnvelope(int(spec.get("poly_cut_p_value", 6)))
    raise ValueError(f"sevenn cutoff function {name!r} is not supported (XPLOR, poly_cut)")


class FlexibleSevenNet(FCLModel):
    """SevenNet with per-atom cutoffs: sevenn's modules on the FCL graph.

    Build it with :meth:`from_pretrained`; the constructor builds an untrained network from a
    sevenn model config (what :func:`pyg_fcl.load_model` does before loading the weights).

    Args:
        sevenn_config (dict): sevenn's model config (``SevenNetCheckpoint.config``); training
            keys are dropped.
        r_max (float, optional): largest cutoff (Å); default and upper bound: sevenn's cutoff.
        r_min (float, optional): smallest cutoff the model is meant for (default ``r_max``:
            SevenNet was trained at one cutoff; pass e.g. 2.5 to run it truncated, or let the
            :class:`~pyg_fcl.Trainer` set the trained range).
        edge_rule (str): edge rule (DESIGN.md).
        elements (Sequence[int], optional): atomic numbers the model accepts (default: all of
            SevenNet's species; restrict it after fine-tuning on a few elements).
        neighbor_backend (str): backend of :func:`pyg_fcl.neighbors.radius_graph`.
        cutoff_embedding (bool): add a per-atom cutoff embedding to the initial node features.
        radial_hidden (int): hidden width of the per-layer edge-cutoff radial correction
            (0: none).
        anchor_r_max (bool): multiply both conditionings by ``1 - r_c / r_max`` (the atom's
            cutoff for the embedding, the edge cutoff for the radial correction), so that at
            ``r_max`` the model is the wrapped SevenNet whatever the conditioning learns.
    """

    def __init__(
        self,
        sevenn_config: dict,
        r_max: float | None = None,
        r_min: float | None = None,
        edge_rule: str = "mean",
        elements: Sequence[int] | None = None,
        neighbor_backend: str = "auto",
        cutoff_embedding: bool = True,
        radial_hidden: int = 32,
        anchor_r_max: bool = False,
    ) -> None:
        sevenn = import_sevenn()
        cfg = model_config(sevenn_config)
        cutoff = float(cfg["cutoff"])
        r_max = cutoff if r_max is None else float(r_max)
        if r_max > cutoff:
            raise ValueError(
                f"r_max={r_max} exceeds the SevenNet model's cutoff {cutoff} Å (its radial basis "
                "and training stop there)"
            )
        type_map = {int(z): int(k) for z, k in cfg["_type_map"].items()}
        known = sorted(type_map)
        elements = known if elements is None else sorted({int(z) for z in elements})
        unknown = [z for z in elements if z not in type_map]
        if unknown:
            raise ValueError(f"elements {unknown} are not among the SevenNet model's species")
        super().__init__(r_max, r_min, edge_rule, elements, neighbor_backend, _envelope(cfg))
        self.sevenn_config = cfg
        self.neighbor_backend = neighbor_backend
        self.sevennet = sevenn.model_build.build_E3_equivariant_model(copy.deepcopy(cfg))
        names = list(self.sevennet._modules)
        for required in ("edge_embedding", "onehot_to_feature_x", "rescale_atomic_energy"):
            if required not in names:
                raise ValueError(f"unsupported SevenNet architecture: no module {required!r}")
        self._plan = [name for name in names if name not in _REPLACED]
        z_to_type = torch.full((_MAX_Z,), -1, dtype=torch.long)
        for z, k in type_map.items():
            z_to_type[z] = k
        self.register_buffer("z_to_type", z_to_type, persistent=False)
        self.num_species = int(cfg["_number_of_species"])
        x_irreps = self.sevennet._modules["onehot_to_feature_x"].linear.irreps_out
        if any(ir.l != 0 for _, ir in x_irreps):
            raise ValueError(f"initial node features {x_irreps} are not all scalars")
        self.use_cutoff_embedding = bool(cutoff_embedding)
        self.cutoff_embedding = CutoffEmbedding(r_max, x_irreps.dim) if cutoff_embedding else None
        basis = self.sevennet._modules["edge_embedding"].basis_function
        convolutions = [n for n in names if self._is_convolution(n)]
        self.radial_hidden = int(radial_hidden)
        self.anchor_r_max = bool(anchor_r_max)
        self.radial = nn.ModuleDict(
            {
                n: EdgeCutoffRadial(basis.num_basis, r_max, radial_hidden, anchor_r_max)
                for n in convolutions
            }
            if radial_hidden > 0
            else {}
        )

    def _is_convolution(self, name: str) -> bool:
        return hasattr(self.sevennet._modules[name], "key_weight_input")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, model: Any = "7net-0", **kwargs) -> FlexibleSevenNet:
        """Wrap a pretrained SevenNet.

        Args:
            model: a sevenn pretrained name (``"7net-0"``, shipped inside the sevenn wheel: no
                network needed), a sevenn checkpoint path, a ``SevenNetCheckpoint``, or a loaded
                sevenn model as ``(model, config)`` (what ``sevenn.util.model_from_checkpoint``
                returns).
            **kwargs: constructor arguments (``r_min``, ``elements``, ``edge_rule``, ...).

        Returns:
            FlexibleSevenNet: in float32, eval mode; with all cutoffs at ``r_max`` it equals
            the SevenNet model.
        """
        sevenn = import_sevenn()
        from sevenn.checkpoint import SevenNetCheckpoint

        if isinstance(model, (str, os.PathLike)):
            try:
                model = sevenn.util.load_checkpoint(str(model))
            except (ValueError, FileNotFoundError) as err:
                raise ValueError(f"FlexibleSevenNet.from_pretrained({model!r}): {err}") from err
        if isinstance(model, SevenNetCheckpoint):
            config, state = model.config, model.build_model().state_dict()
        elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], dict):
            config, state = model[1], model[0].state_dict()
        else:
            raise TypeError(
                "FlexibleSevenNet.from_pretrained takes a pretrained name, a checkpoint path, a "
                f"SevenNetCheckpoint or (model, config); got {type(model).__name__} (a bare "
                "sevenn model does not carry the config its architecture is built from)"
            )
        wrapped = cls(config, **kwargs)
        wrapped.sevennet.load_state_dict(state, strict=True)
        return wrapped.eval()

    def config(self) -> dict:
        return {
            "sevenn_config": copy.deepcopy(self.sevenn_config),
            "r_max": self.r_max,
            "r_min": self.r_min,
            "edge_rule": self.edge_rule,
            "elements": list(self.elements),
            "neighbor_backend": self.neighbor_backend,
            "cutoff_embedding": self.use_cutoff_embedding,
            "radial_hidden": self.radial_hidden,
            "anchor_r_max": self.anchor_r_max,
        }

    # ------------------------------------------------------------------ forward
    def node_energy(self, graph) -> Tensor:
        """SevenNet's per-atom energies ``[num_nodes]`` (after its own per-species rescaling).

        Args:
            graph (ModelGraph): ``z`` ``[N]``, ``cutoff`` ``[N]``, ``batch`` ``[N]``,
                ``edge_index`` ``[2, E]`` (``[0]`` neighbour, ``[1]`` centre), ``edge_vec``
                ``[E, 3]``, ``edge_length``, ``edge_cutoff``, ``envelope`` ``[E]``.
        """
        from sevenn import _keys as KEY

        dtype = graph.edge_vec.dtype
        kind = self.z_to_type[graph.z]
        onehot = nn.functional.one_hot(kind, self.num_species).to(dtype)
        embedding = self.sevennet._modules["edge_embedding"]
        basis = embedding.basis_function(graph.edge_length)
        # sevenn gathers messages at edge_index[0] from edge_index[1], with the vector pointing
        # from [0] to [1]: the reverse of PyG's index order, the same vector pos[j] - pos[i].
        data: dict[str, Tensor] = {
            KEY.NODE_FEATURE: onehot,
            KEY.NODE_ATTR: onehot,
            KEY.ATOM_TYPE: kind,
            KEY.BATCH: graph.batch,
            KEY.EDGE_IDX: graph.edge_index.flip(0),
            KEY.EDGE_VEC: graph.edge_vec,
            KEY.EDGE_LENGTH: graph.edge_length,
            KEY.EDGE_ATTR: embedding.spherical(graph.edge_vec),
        }
        plain = basis * graph.envelope.unsqueeze(-1)
        for name in self._plan:
            module = self.sevennet._modules[name]
            if name in self.radial:
                data[module.key_weight_input] = self.radial[name](
                    basis, graph.edge_length, graph.edge_cutoff, graph.envelope
                )
            elif self._is_convolution(name):
                data[module.key_weight_input] = plain
            data = module(data)
            if name == "onehot_to_feature_x" and self.cutoff_embedding is not None:
                x = data[KEY.NODE_FEATURE]
                shift = self.cutoff_embedding(graph.cutoff)
                if self.anchor_r_max:
                    shift = shift * anchor_gate(graph.cutoff, self.r_max).unsqueeze(-1)
                data[KEY.NODE_FEATURE] = x + shift.to(x.dtype)
        return data[KEY.ATOMIC_ENERGY].reshape(-1)
