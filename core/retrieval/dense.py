"""Exact dense retrieval: cosine similarity of unit-length embeddings, searched in blocks of
queries so that memory stays near `BLOCK_CELLS` scores whatever the corpus size.

A passage embedded as several windows (`windows.py`) scores its best window: the window rows
of one passage are consecutive, so one `np.maximum.reduceat` per block folds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.retrieval.base import EmbeddingRetriever, Hits, Passages, group_mask, top_k_rows

BLOCK_CELLS = 20_000_000  # query × window scores held at once (80 MB of float32)

Encoder = Callable[[Sequence[str]], np.ndarray]  # texts → unit-length float32 rows


class DenseRetriever(EmbeddingRetriever):
    """Exact search over embedded passages.

    encode_queries: the model's encoder for questions (unit-length rows; None when only
    embedded queries are searched);
    window_emb: (n_windows, dim) unit-length rows; window_owner: the passage index of each
    row, ascending (None: one row per passage)."""

    def __init__(
        self,
        passages: Passages,
        encode_queries: Encoder | None,
        window_emb: np.ndarray,
        window_owner: np.ndarray | None = None,
    ) -> None:
        self.passages = passages
        self.encode_queries = encode_queries
        self.window_emb = np.ascontiguousarray(window_emb, dtype=np.float32)
        owner = np.arange(len(passages)) if window_owner is None else window_owner
        if len(owner) != len(self.window_emb):
            raise ValueError("one owner per embedded window is needed")
        self._starts = np.searchsorted(owner, np.arange(len(passages)))
        if len(passages) and (np.diff(owner) < 0).any():
            raise ValueError("a passage's windows must be consecutive")
        self._groups = passages.group_codes()

    def passage_scores(self, query_emb: np.ndarray) -> np.ndarray:
        """(n_queries, n_passages) cosine of each passage's best window."""
        sims = query_emb @ self.window_emb.T
        if len(self._starts) == len(self.window_emb):
            return sims
        return np.maximum.reduceat(sims, self._starts, axis=1)

    def search_embeddings(
        self,
        query_emb: np.ndarray,
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        """`search` for queries already embedded (unit-length rows)."""
        q_codes = self.passages.query_codes(query_groups)
        n_q = len(query_emb)
        block = max(1, BLOCK_CELLS // max(1, len(self.window_emb)))
        parts: list[Hits] = []
        for start in range(0, n_q, block):
            scores = self.passage_scores(query_emb[start : start + block])
            mask = group_mask(
                self._groups, None if q_codes is None else q_codes[start : start + block]
            )
            if mask is not None:
                scores = np.where(mask, -np.inf, scores)
            parts.append(top_k_rows(scores, top_k))
        if not parts:
            k = min(top_k, len(self.passages))
            return Hits(np.zeros((0, k), np.float32), np.zeros((0, k), np.int64))
        return Hits(
            np.concatenate([p.scores for p in parts]), np.concatenate([p.indices for p in parts])
        )

    def rank_of(
        self, query_emb: np.ndarray, positives: Sequence[Sequence[int]]
    ) -> list[int | None]:
        """Each query's rank (from 1) of its best-scoring positive passage among all passages
        (None when it names none): what the round-trip filter keeps or drops by."""
        ranks: list[int | None] = []
        block = max(1, BLOCK_CELLS // max(1, len(self.window_emb)))
        for start in range(0, len(query_emb), block):
            scores = self.passage_scores(query_emb[start : start + block])
            for row, pos in enumerate(positives[start : start + block]):
                cols = [p for p in pos if 0 <= p < scores.shape[1]]
                if not cols:
                    ranks.append(None)
                    continue
                best = scores[row, cols].max()
                ranks.append(int((scores[row] > best).sum()) + 1)
        return ranks
