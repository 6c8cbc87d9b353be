"""CLP, contrastive learning penalty (arXiv 2412.17364, "Improving the Accuracy of Document
Retrieval ... Contrastive Learning Penalty"):

    ℓ_i = (1-λ)·InfoNCE_i + λ · mean_{j ∈ A_i} (1 - cos(q*_ij, n_ij))

n_ij is the j-th hard negative of record i and q*_ij a query whose positive *is* n_ij (taken from
the training pairs: `TrainingData.queries_by_positive_chunk`). While InfoNCE pushes n_ij away
from q_i, the penalty pulls it toward its own query, so negatives are not pushed off the map.
InfoNCE_i uses every positive and present hard negative of the batch (like MNRL), scale s = 1/τ.

Any batch size (the reference code only runs at batch 1): A_i is the set of j where both n_ij
and q*_ij exist (masks); a row with no q* keeps only its (1-λ)·InfoNCE term. Batch loss =
mean_i ℓ_i, which at batch size 1 with every q* present is exactly the paper's formula.

Rows are (anchor, positive, negative_1..K, qstar_1..K, label) with label (2, K) = [negative
present, q* present]; an absent negative is filled with the row's own positive and an absent
q* with its own query (never new texts, so the no-duplicates batch sampler is not disturbed),
and both are masked out. The rows are built by core/training/objectives/clp.py (which, when no
q* exists for a negative, skips the term or has a question writer write one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.losses._contrastive import info_nce_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def clp_loss(
    q: Tensor,
    p: Tensor,
    negs: Tensor,
    qstar: Tensor,
    neg_mask: Tensor,
    qstar_mask: Tensor,
    scale: float = 20.0,
    lam: float = 0.1,
) -> Tensor:
    """CLP on embeddings: q, p (B, d); negs, qstar (B, K, d); masks (B, K) bool."""
    nce = info_nce_rows(q, p, negs, neg_mask, scale)  # (B,)
    avail = (neg_mask.bool() & qstar_mask.bool()).float()  # (B, K)
    pull = 1.0 - F.cosine_similarity(qstar, negs, dim=-1)  # (B, K)
    count = avail.sum(1)
    penalty = (pull * avail).sum(1) / count.clamp(min=1.0)  # 0 where a row has no q*
    return ((1.0 - lam) * nce + lam * penalty).mean()


class CLPLoss(nn.Module):
    """CLP: (1-λ)·InfoNCE + λ·mean_j (1 - cos(q*_j, n_j)); scale = 1/temperature."""

    def __init__(self, model: SentenceTransformer, k: int, scale: float = 20.0, lam: float = 0.1):
        super().__init__()
        self.model = model
        self.k = k
        self.scale = scale
        self.lam = lam

    def forward(self, sentence_features, labels: Tensor) -> Tensor:
        embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
        k = self.k
        q, p = embs[0], embs[1]
        negs = torch.stack(embs[2 : 2 + k], dim=1)  # (B, K, d)
        qstar = torch.stack(embs[2 + k : 2 + 2 * k], dim=1)  # (B, K, d)
        masks = labels.view(-1, 2, k).bool()
        return clp_loss(q, p, negs, qstar, masks[:, 0], masks[:, 1], self.scale, self.lam)

    def get_config_dict(self) -> dict[str, Any]:
        return {"k": self.k, "scale": self.scale, "lambda": self.lam}

    @property
    def citation(self) -> str:
        return "arXiv:2412.17364"
