"""InfoNCE over each query's own candidates only (no in-batch negatives), for MNRL with
`in_batch_negatives` off:

    ℓ_i = -log exp(s·cos(q_i, p_i)) / (exp(s·cos(q_i, p_i)) + Σ_j exp(s·cos(q_i, n_ij)))

s = scale = 1/τ. sentence-transformers' MNRL always adds the other rows of the batch, hence this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class OwnCandidatesLoss(nn.Module):
    """Rows (anchor, positive, negative_1..k); cross-entropy of the positive among them."""

    def __init__(self, model: SentenceTransformer, scale: float) -> None:
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, sentence_features, labels=None) -> torch.Tensor:
        embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
        q = nn.functional.normalize(embs[0], dim=-1)  # [B, d]
        cands = nn.functional.normalize(torch.stack(embs[1:], dim=1), dim=-1)  # [B, 1+k, d]
        scores = torch.einsum("bd,bcd->bc", q, cands) * self.scale  # [B, 1+k]
        target = torch.zeros(len(q), dtype=torch.long, device=q.device)
        return nn.functional.cross_entropy(scores, target)

    def get_config_dict(self) -> dict[str, float]:
        return {"scale": self.scale}

    @property
    def citation(self) -> str:
        return ""
