"""MoE option: turn chosen feed-forward blocks of a BERT-like sentence-transformers model into
a top-1 mixture of experts with a load-balancing term (arXiv 2412.17364, MoE variant; routing
and balance term after Switch Transformer, Fedus et al. 2021 / arXiv 2101.03961).

Maths and the model class live in `core.modeling.bert_moe` (self-contained, shipped inside each
saved model); this module owns the settings and converts a loaded model in place, once, in
`apply_moe` (called by the trainer after the objective is built):
    h ↦ E_e*(h),  e* = argmax softmax(W_r h),  E_1 = … = E_N = the original block at conversion,
    loss ↦ loss + moe_aux_weight · N · Σ_e f_e · P_e   (per forward pass, training only).

Save / load / export:
- `model.save(path)` writes a normal sentence-transformers folder; its `config.json` has
  `model_type: bert_moe`, the MoE settings, an `auto_map`, and `modeling_bert_moe.py` beside it.
- `core.models.open_model(path)` (and anything that imported `core.modeling.bert_moe`) loads it
  with a plain `SentenceTransformer(path)`: the `bert_moe` type is registered with transformers.
  Anywhere else, `SentenceTransformer(path, trust_remote_code=True)` loads the shipped file.
  (sentence-transformers 6.x refuses custom module classes in modules.json without
  trust_remote_code, so modules.json stays the standard Transformer + Pooling.)
- ONNX: `torch.onnx.export(model[0].auto_model, ...)` traces it like BERT: every expert is
  computed and the top-1 output picked with a one-hot mask, so there is no data-dependent branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.step_settings import StepSettings

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from core.modeling.bert_moe import MoEFeedForward

# torch and the model class are imported inside the functions: TrainConfig (which pages import)
# inherits MoESettings, and must stay quick to import.


@dataclass
class MoESettings(StepSettings):
    """The MoE option of a run (TrainConfig fields moe*), usable with every objective."""

    moe: bool = field(
        default=False,
        metadata={"help": "Turn middle feed-forward blocks into 2 experts with a top-1 router."},
    )
    moe_layers: list[int] = field(
        default_factory=list,
        metadata={"help": "MoE: 0-based layer indices (empty = the two middle layers)."},
    )
    moe_num_experts: int = field(default=2, metadata={"help": "MoE: experts per converted block."})
    moe_aux_weight: float = field(
        default=0.01, metadata={"help": "MoE: weight of the load-balancing term in the loss."}
    )

    def problems(self) -> list[str]:
        """What is wrong with these settings, one sentence each (empty when all are fine)."""
        mine = []
        if self.moe_num_experts < 2 or self.moe_aux_weight < 0:
            mine.append("moe_num_experts must be at least 2 and moe_aux_weight >= 0")
        return mine + super().problems()


def default_moe_layers(num_layers: int) -> list[int]:
    """The two middle layers (e.g. [2, 3] of 6): 'intermediate layers' in the paper's words."""
    if num_layers <= 2:
        return list(range(num_layers))
    mid = num_layers // 2
    return [mid - 1, mid]


def convert_to_moe(
    model: SentenceTransformer,
    layers: list[int] | None = None,
    num_experts: int = 2,
    aux_weight: float = 0.01,
    seed: int | None = None,
) -> SentenceTransformer:
    """Replace the transformer of `model` (in place) by a `BertMoEModel` copy.

    layers: 0-based layer indices to convert (None: `default_moe_layers`); every expert starts
    as a copy of that layer's feed-forward block, so embeddings are unchanged right after.
    num_experts: experts per converted block (2 in the paper). aux_weight: weight of the
    load-balancing term. seed: router initialisation seed (normal, std = initializer_range).
    Raises ValueError for a non-BERT-like transformer or an out-of-range layer index.
    """
    import torch

    from core.modeling.bert_moe import BertMoEConfig, BertMoEModel

    transformer = model[0]
    hf = transformer.auto_model
    if isinstance(hf, BertMoEModel):
        return model  # already converted (e.g. continuing from an MoE run)
    encoder_layers = getattr(getattr(hf, "encoder", None), "layer", None)
    if encoder_layers is None or not all(
        hasattr(layer, "intermediate") and hasattr(layer, "output") for layer in encoder_layers
    ):
        raise ValueError(
            f"MoE needs a BERT-like encoder (layers with intermediate/output blocks); "
            f"got {type(hf).__name__}"
        )
    n_layers = len(encoder_layers)
    layers = sorted(set(layers if layers else default_moe_layers(n_layers)))
    if any(i < 0 or i >= n_layers for i in layers):
        raise ValueError(f"moe layers {layers} out of range for a {n_layers}-layer model")
    if num_experts < 2:
        raise ValueError("an MoE block needs at least 2 experts")

    config_dict = hf.config.to_dict()
    for key in ("model_type", "architectures", "auto_map", "transformers_version"):
        config_dict.pop(key, None)
    config = BertMoEConfig(
        moe_layers=layers, moe_num_experts=num_experts, moe_aux_weight=aux_weight, **config_dict
    )
    config.architectures = ["BertMoEModel"]
    config._attn_implementation = hf.config._attn_implementation  # keep sdpa/eager as loaded
    if seed is not None:
        torch.manual_seed(seed)
    add_pooler = getattr(hf, "pooler", None) is not None
    moe = BertMoEModel(config, add_pooling_layer=add_pooler)
    state = hf.state_dict()
    missing, unexpected = moe.load_state_dict(state, strict=False)
    for index in layers:
        old = encoder_layers[index]
        block = moe.encoder.layer[index].output
        for expert in block.experts:
            expert.intermediate.load_state_dict(old.intermediate.state_dict())
            expert.output.load_state_dict(old.output.state_dict())
    # Only the new blocks may be missing, only the replaced ones unexpected.
    bad_missing = [k for k in missing if ".output.router." not in k and ".experts." not in k]
    bad_unexpected = [
        k
        for k in unexpected
        if not any(f"layer.{i}.intermediate." in k for i in layers)
        and not any(f"layer.{i}.output." in k for i in layers)
    ]
    if bad_missing or bad_unexpected:
        raise RuntimeError(f"MoE conversion lost weights: {bad_missing or bad_unexpected}")
    moe.to(device=next(hf.parameters()).device, dtype=next(hf.parameters()).dtype)
    moe.train(hf.training)
    transformer.model = moe
    return model


def moe_blocks(model: SentenceTransformer | torch.nn.Module) -> list[MoEFeedForward]:
    """All MoE blocks of a (converted) model."""
    from core.modeling.bert_moe import MoEFeedForward

    return [m for m in model.modules() if isinstance(m, MoEFeedForward)]


def apply_moe(model: SentenceTransformer, settings: MoESettings, seed: int) -> None:
    """Convert `model` in place when `settings.moe` is on (else nothing); `seed` seeds the
    routers. The one place training applies MoE, whatever the objective."""
    if not settings.moe:
        return
    convert_to_moe(
        model,
        layers=list(settings.moe_layers) or None,
        num_experts=settings.moe_num_experts,
        aux_weight=settings.moe_aux_weight,
        seed=seed,
    )
