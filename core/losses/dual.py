"""Dual loss (the syllabus paper): two objectives, batches alternated.

    part A, on (query, positive) pairs:   w_A · MNRL   (InfoNCE with in-batch negatives, s = 1/τ)
    part B, on (query, passage, y) pairs: w_B · mean_i (y_i - cos(u_i, v_i))²
with y = 1 for a positive passage and y = 0 for a mined (or curated) negative. Batches come from
the two datasets in turn (sentence-transformers multi-dataset training with
`MultiDatasetBatchSamplers.ROUND_ROBIN`, which stops when the smaller one is exhausted, so an
epoch sees every pair batch once and as many cosine batches). Part A is sentence-transformers'
MultipleNegativesRankingLoss, part B its CosineSimilarityLoss (MSE of the cosine to y), each
scaled by `WeightedLoss`; the objective that builds the two datasets and puts the parts
together is core/training/objectives/dual.py.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class WeightedLoss(nn.Module):
    """`weight · inner(features, labels)`: scales an existing loss module (sentence-transformers'
    losses take no weight of their own)."""

    def __init__(self, inner: nn.Module, weight: float = 1.0) -> None:
        super().__init__()
        self.inner = inner
        self.model = inner.model
        self.weight = weight

    def forward(self, sentence_features, labels: Tensor | None) -> Tensor:
        return self.weight * self.inner(sentence_features, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, **getattr(self.inner, "get_config_dict", dict)()}

    @property
    def citation(self) -> str:
        return getattr(self.inner, "citation", "")
