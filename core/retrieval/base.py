"""The retrieval contract: passages with optional group ids, and a `Retriever` that returns
each query's top-k passages as (scores, passage indices), best first.

Plain arrays keep the backends interchangeable and fusable: row i of both arrays belongs to
query i; an index of -1 (score -inf) pads a row whose query has fewer than k candidates (a
small group). `to_results` turns them into BEIR's {query_id: {doc_id: score}}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

Results = dict[str, dict[str, float]]
NO_GROUP = -1  # the code of a query or passage without a group: it matches nothing


@dataclass(frozen=True)
class Hits:
    """scores (n_queries, k) float32 and indices (n_queries, k) int64 into the passages, best
    first; -inf / -1 where a query had fewer than k candidates."""

    scores: np.ndarray
    indices: np.ndarray

    def row(self, i: int) -> list[tuple[int, float]]:
        """Query i's hits as (passage index, score), padding left out."""
        return [
            (int(j), float(s))
            for j, s in zip(self.indices[i], self.scores[i], strict=True)
            if j >= 0
        ]


@dataclass
class Passages:
    """What a retriever searches: passage texts in a fixed order and, optionally, each
    passage's group id (None = no group: such a passage is never a grouped query's candidate)."""

    texts: list[str]
    groups: list[str | None] | None = None
    _codes: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.texts)

    def group_codes(self) -> np.ndarray | None:
        """Each passage's group as an integer code (None when the passages have no groups)."""
        if self.groups is None:
            return None
        return np.array(
            [
                NO_GROUP if g is None else self._codes.setdefault(g, len(self._codes))
                for g in self.groups
            ],
            dtype=np.int64,
        )

    def query_codes(self, query_groups: Sequence[str | None] | None) -> np.ndarray | None:
        """Query groups in the passages' codes (a group no passage has → NO_GROUP)."""
        if query_groups is None or self.groups is None:
            return None
        self.group_codes()
        return np.array(
            [NO_GROUP if g is None else self._codes.get(g, NO_GROUP) for g in query_groups],
            dtype=np.int64,
        )


class Retriever(Protocol):
    """What every backend offers: `search` over its passages, in passage-index space.

    `query_groups` (one group id or None per query) restricts each query to the passages of
    the same group, given the passages' groups when the retriever was built; None searches
    every passage."""

    def search(
        self,
        queries: Sequence[str],
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits: ...


class EmbeddingRetriever:
    """What dense and faiss share: questions are embedded by `encode_queries` (None when only
    embedded queries are searched), then searched by `search_embeddings`."""

    encode_queries: Callable[[Sequence[str]], np.ndarray] | None

    def search_embeddings(
        self,
        query_emb: np.ndarray,
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        raise NotImplementedError

    def search(
        self,
        queries: Sequence[str],
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        if self.encode_queries is None:
            raise ValueError(f"this {type(self).__name__} was built without a query encoder")
        return self.search_embeddings(self.encode_queries(list(queries)), top_k, query_groups)


def top_k_rows(scores: np.ndarray, k: int) -> Hits:
    """The k best columns of each row of a dense score matrix (-inf = not a candidate)."""
    n_q, n_p = scores.shape
    k = min(k, n_p)
    if k == 0:
        return Hits(np.zeros((n_q, 0), np.float32), np.zeros((n_q, 0), np.int64))
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    idx[~np.isfinite(top)] = -1
    return Hits(top, idx)


def group_mask(
    passage_groups: np.ndarray | None, query_groups: np.ndarray | None
) -> np.ndarray | None:
    """(n_queries, n_passages) True where a passage is outside its query's group."""
    if passage_groups is None or query_groups is None:
        return None
    return (query_groups[:, None] != passage_groups[None, :]) | (query_groups[:, None] < 0)


def to_results(query_ids: Sequence[str], doc_ids: Sequence[str], hits: Hits) -> Results:
    """BEIR results {query_id: {doc_id: score}} (padding dropped)."""
    return {qid: {doc_ids[j]: s for j, s in hits.row(i)} for i, qid in enumerate(query_ids)}
