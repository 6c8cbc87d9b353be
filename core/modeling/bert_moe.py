"""A BERT encoder whose chosen layers have a mixture-of-experts feed-forward block.

Self-contained on purpose (imports only torch and transformers): a copy of this file is written
next to every saved MoE model as `modeling_bert_moe.py`, and `config.json` points at it through
`auto_map`, so the folder also loads outside this project with `trust_remote_code=True`. Inside
the project, importing this module registers the `bert_moe` model type with transformers'
AutoConfig/AutoModel, so a plain `SentenceTransformer(path)` loads it (no remote code).

Block (Switch-Transformer style top-1 routing, Fedus et al. 2021, as used by the MoE variant of
arXiv 2412.17364): for a token h after attention,
    p = softmax(W_r h)                         router probabilities over N experts, (N,)
    e* = argmax p                              top-1 expert
    y = E_e*(h) · p_e* / stopgrad(p_e*)        value is exactly E_e*(h); the gradient reaches W_r
where E_e is a copy of the layer's original feed-forward block (intermediate dense + act, output
dense + dropout + residual LayerNorm). Right after conversion every E_e equals the original
block, so the model's outputs are unchanged whatever the router picks.

Load balancing (Switch Transformer eq. 4): aux = N · Σ_e f_e · P_e with f_e the fraction of
(non-padding) tokens sent to e and P_e the mean router probability of e; 1.0 when balanced,
N when everything goes to one expert. During training its gradient, times `moe_aux_weight`, is
added to whatever loss is being optimised (per forward pass) by `_AddAuxiliaryLoss`, so every
objective gets it without changes; the value is kept in `MoEFeedForward.last_aux`.

Traceable for ONNX: every expert is computed and the top-1 one selected with a one-hot mask (no
data-dependent control flow); the auxiliary term is skipped outside training.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertIntermediate, BertOutput

MODEL_TYPE = "bert_moe"
MODELING_FILE = "modeling_bert_moe.py"


class BertMoEConfig(BertConfig):
    """BertConfig plus: `moe_layers` (0-based layer indices with an MoE feed-forward block),
    `moe_num_experts` (experts per MoE block), `moe_aux_weight` (weight of the load-balancing
    term added to the training loss, unitless)."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        moe_layers: list[int] | None = None,
        moe_num_experts: int = 2,
        moe_aux_weight: float = 0.01,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.moe_layers = list(moe_layers or [])
        self.moe_num_experts = int(moe_num_experts)
        self.moe_aux_weight = float(moe_aux_weight)


class _AddAuxiliaryLoss(torch.autograd.Function):
    """Identity on `x` whose backward also sends gradient 1 into `aux` (aux joins the loss)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        ctx.aux_dtype = aux.dtype
        ctx.aux_needs_grad = aux.requires_grad
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_aux = None
        if ctx.aux_needs_grad:
            grad_aux = torch.ones((), dtype=ctx.aux_dtype, device=grad_output.device)
        return grad_output, grad_aux


def load_balancing_term(probs: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
    """aux = N · Σ_e f_e · P_e over the tokens where `token_mask` is true.

    probs: (tokens, N) router probabilities; token_mask: (tokens,) bool or None (all tokens).
    f_e (fraction of tokens whose argmax is e) has no gradient; P_e (mean probability) has.
    """
    n = probs.shape[-1]
    if token_mask is not None:
        probs = probs[token_mask]
    if probs.shape[0] == 0:
        return probs.sum() * 0.0
    dispatch = nn.functional.one_hot(probs.argmax(-1), n).to(probs.dtype)  # (tokens, N)
    f = dispatch.mean(0)  # (N,)
    p = probs.mean(0)  # (N,)
    return n * (f * p).sum()


class _Expert(nn.Module):
    """One copy of BERT's feed-forward block: intermediate (dense+act), output (dense+LN)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(hidden), hidden)


class MoEFeedForward(nn.Module):
    """Replaces `BertLayer.output` (with `BertLayer.intermediate` set to identity), so it is
    called as `output(hidden, hidden)` where hidden is the attention output."""

    def __init__(self, config: BertMoEConfig) -> None:
        super().__init__()
        self.num_experts = config.moe_num_experts
        self.aux_weight = config.moe_aux_weight
        self.router = nn.Linear(config.hidden_size, self.num_experts, bias=False)
        self.experts = nn.ModuleList(_Expert(config) for _ in range(self.num_experts))
        self.token_mask: torch.Tensor | None = None  # (batch, seq) bool, set by the model
        self.last_aux: float | None = None
        self.last_fractions: list[float] | None = None

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        # hidden_states is input_tensor here (the intermediate step is identity).
        logits = self.router(input_tensor)  # (B, T, N)
        probs = logits.softmax(-1)
        top = nn.functional.one_hot(probs.argmax(-1), self.num_experts).to(probs.dtype)
        gate = (probs * top).sum(-1, keepdim=True)  # (B, T, 1) probability of the chosen expert
        outs = torch.stack([expert(input_tensor) for expert in self.experts], dim=-2)
        chosen = (outs * top.unsqueeze(-1)).sum(-2)  # (B, T, H), exactly the top-1 expert
        out = chosen * (gate / gate.detach())  # value unchanged, router receives gradient
        if self.training and torch.is_grad_enabled():
            mask = self.token_mask
            flat_mask = None
            if mask is not None and mask.shape == probs.shape[:2]:
                flat_mask = mask.reshape(-1)
            aux = load_balancing_term(probs.reshape(-1, self.num_experts), flat_mask)
            self.last_aux = float(aux.detach())
            self.last_fractions = top.reshape(-1, self.num_experts).mean(0).tolist()
            out = _AddAuxiliaryLoss.apply(out, aux * self.aux_weight)
        return out


class BertMoEModel(BertModel):
    """BertModel whose layers in `config.moe_layers` use `MoEFeedForward`."""

    config_class = BertMoEConfig

    def __init__(self, config: BertMoEConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config, add_pooling_layer=add_pooling_layer)
        for index in config.moe_layers:
            layer = self.encoder.layer[index]
            layer.intermediate = nn.Identity()
            layer.output = MoEFeedForward(config)
        # Re-run init for the new modules (post_init ran before they existed).
        self.post_init()
        # The router needs the padding mask for its balance statistics; a pre-hook keeps
        # BertModel.forward's signature (sentence-transformers inspects it) untouched.
        self.register_forward_pre_hook(self._capture_token_mask, with_kwargs=True)

    def moe_blocks(self) -> list[MoEFeedForward]:
        return [m for m in self.modules() if isinstance(m, MoEFeedForward)]

    def _capture_token_mask(self, module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1:
            mask = args[1]
        token_mask = mask.bool() if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None
        for block in self.moe_blocks():
            block.token_mask = token_mask
        return None

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual, plus this file and `auto_map`, so the folder is self-describing."""
        self.config.auto_map = {
            "AutoConfig": f"{MODELING_FILE[:-3]}.BertMoEConfig",
            "AutoModel": f"{MODELING_FILE[:-3]}.BertMoEModel",
        }
        result = super().save_pretrained(save_directory, *args, **kwargs)
        shutil.copyfile(Path(__file__), Path(save_directory) / MODELING_FILE)
        return result


def register() -> None:
    """Make `bert_moe` a known model type for transformers' Auto classes (idempotent)."""
    # ValueError: already registered (e.g. this file imported under two module names).
    with contextlib.suppress(ValueError):
        AutoConfig.register(MODEL_TYPE, BertMoEConfig)
    with contextlib.suppress(ValueError):
        AutoModel.register(BertMoEConfig, BertMoEModel)


register()
