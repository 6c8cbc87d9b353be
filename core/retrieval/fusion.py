"""Two retrievers fused into one ranking, as the search engines users run do it.

- `minmax` (the default): each retriever's scores over its top `depth` candidates are scaled
  to [0, 1] per query (min-max), then combined as `weight · first + (1 - weight) · second`; a
  passage one retriever did not return counts 0 there. This is Weaviate's relative-score
  fusion with `alpha = weight`, OpenSearch's normalization processor (min_max, arithmetic
  mean with weights [weight, 1 - weight]) and Qdrant's / Elasticsearch's linear combination.
- `rrf`: reciprocal rank fusion, `weight / (RRF_K + rank_first) + (1 - weight) / (RRF_K +
  rank_second)` (LangChain's EnsembleRetriever with weights [weight, 1 - weight]).

Written here rather than taken from a library: the engines above do it inside their servers,
and LangChain / LlamaIndex fuse only their own retriever objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from core.retrieval.base import Hits, Retriever

FusionMethod = Literal["minmax", "rrf"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("minmax", "rrf")
DEFAULT_WEIGHT = 0.5  # the even mix a user's stack gives by default
FUSION_DEPTH = 100  # candidates taken from each retriever before fusing
RRF_K = 60  # the rank constant of Cormack et al. (2009), every engine's default


def _minmax(scores: np.ndarray) -> np.ndarray:
    """Scores of one query's candidates scaled to [0, 1] (all equal → 1)."""
    low, high = scores.min(), scores.max()
    return np.ones_like(scores) if high - low < 1e-12 else (scores - low) / (high - low)


def fuse_rows(
    first: list[tuple[int, float]],
    second: list[tuple[int, float]],
    weight: float,
    method: FusionMethod,
) -> list[tuple[int, float]]:
    """One query's fused candidates (passage index, fused score), best first."""
    fused: dict[int, float] = {}
    for share, row in ((weight, first), (1.0 - weight, second)):
        if not row:
            continue
        ids = [i for i, _ in row]
        if method == "rrf":
            parts = share / (RRF_K + np.arange(1, len(row) + 1))
        else:
            parts = share * _minmax(np.array([s for _, s in row], dtype=np.float64))
        for i, p in zip(ids, parts, strict=True):
            fused[i] = fused.get(i, 0.0) + float(p)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse_hits(first: Hits, second: Hits, weight: float, method: FusionMethod, top_k: int) -> Hits:
    """Row by row `fuse_rows` of two retrievers' hits on the same queries."""
    n_q = len(first.scores)
    scores = np.full((n_q, top_k), -np.inf, dtype=np.float32)
    indices = np.full((n_q, top_k), -1, dtype=np.int64)
    for q in range(n_q):
        row = fuse_rows(first.row(q), second.row(q), weight, method)[:top_k]
        for col, (i, s) in enumerate(row):
            scores[q, col], indices[q, col] = s, i
    return Hits(scores, indices)


class FusedRetriever:
    """`first` and `second` fused; `weight` is the share of `first` in [0, 1]."""

    def __init__(
        self,
        first: Retriever,
        second: Retriever,
        weight: float = DEFAULT_WEIGHT,
        method: FusionMethod = "minmax",
        depth: int = FUSION_DEPTH,
    ) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
        if method not in FUSION_METHODS:
            raise ValueError(f"fusion method must be one of {', '.join(FUSION_METHODS)}")
        self.first, self.second = first, second
        self.weight, self.method, self.depth = weight, method, depth

    def search(
        self,
        queries: Sequence[str],
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        depth = max(top_k, self.depth)
        a = self.first.search(queries, depth, query_groups)
        b = self.second.search(queries, depth, query_groups)
        return fuse_hits(a, b, self.weight, self.method, top_k)
