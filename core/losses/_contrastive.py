"""InfoNCE with masked hard negatives, shared by the CLP and soft-label objectives.

    InfoNCE_i = -log exp(s·cos(q_i, p_i)) / Σ_c exp(s·cos(q_i, c))
c over every positive of the batch and every *present* hard negative of the batch (the same
candidate set as sentence-transformers' MultipleNegativesRankingLoss), s = scale = 1/τ.
Absent negatives (rows with fewer mined negatives than columns) are masked out of the softmax.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """cos(a_i, b_j): a (n, d), b (m, d) -> (n, m)."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def info_nce_rows(
    q: Tensor, p: Tensor, negs: Tensor | None, neg_mask: Tensor | None, scale: float
) -> Tensor:
    """Per-row InfoNCE (B,) for q (B, d), p (B, d), negs (B, K, d), neg_mask (B, K) bool."""
    b = q.shape[0]
    cands = p
    valid = torch.ones(b, dtype=torch.bool, device=q.device)
    if negs is not None and negs.shape[1] > 0:
        k = negs.shape[1]
        mask = (
            torch.ones(b, k, dtype=torch.bool, device=q.device)
            if neg_mask is None
            else neg_mask.bool()
        )
        cands = torch.cat([p, negs.reshape(b * k, -1)], dim=0)  # (B + B*K, d)
        valid = torch.cat([valid, mask.reshape(-1)])
    logits = cosine_matrix(q, cands) * scale  # (B, B + B*K)
    logits = logits.masked_fill(~valid.unsqueeze(0), float("-inf"))
    target = torch.arange(b, device=q.device)
    return F.cross_entropy(logits, target, reduction="none")
