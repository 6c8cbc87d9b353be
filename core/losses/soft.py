"""Soft-label loss (arXiv 2408.11868, expert-augmented scores): the model learns expert-scored
targets t_ic for each (query, candidate) pair,

    ℓ = mean_{(i,c) present} (cos(q_i, c) - t_ic)²  +  w_mnrl · mean_i InfoNCE_i

(InfoNCE over the batch's positives and present hard negatives, scale s = 1/τ; w_mnrl = 0 gives
MSE only). The experts, their scores and the targets are built by
core/training/objectives/soft.py.

Rows are (anchor, positive, negative_1..K, label) with label (2, 1+K) = [targets, present]; an
absent negative is filled with the row's own positive and masked out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.losses._contrastive import info_nce_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def soft_label_loss(
    q: Tensor,
    cands: Tensor,
    targets: Tensor,
    mask: Tensor,
    scale: float = 20.0,
    mnrl_weight: float = 1.0,
) -> Tensor:
    """q (B, d); cands (B, 1+K, d), the positive first; targets, mask (B, 1+K)."""
    present = mask.bool()
    cos = F.cosine_similarity(q.unsqueeze(1), cands, dim=-1)  # (B, 1+K)
    mse = ((cos - targets.float()) ** 2)[present].mean()
    if mnrl_weight == 0:
        return mse
    nce = info_nce_rows(q, cands[:, 0], cands[:, 1:], present[:, 1:], scale).mean()
    return mse + mnrl_weight * nce


class SoftLabelLoss(nn.Module):
    """MSE between cos(q, c) and the experts' soft target, plus w_mnrl · InfoNCE."""

    def __init__(self, model: SentenceTransformer, scale: float = 20.0, mnrl_weight: float = 1.0):
        super().__init__()
        self.model = model
        self.scale = scale
        self.mnrl_weight = mnrl_weight

    def forward(self, sentence_features, labels: Tensor) -> Tensor:
        embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
        cands = torch.stack(embs[1:], dim=1)  # (B, 1+K, d)
        lab = labels.view(len(embs[0]), 2, -1)
        return soft_label_loss(embs[0], cands, lab[:, 0], lab[:, 1], self.scale, self.mnrl_weight)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "mnrl_weight": self.mnrl_weight}

    @property
    def citation(self) -> str:
        return "arXiv:2408.11868"
