"""Keyword search: BM25 (Okapi, k1 1.5, b 0.75) by `bm25s`, English stop words removed.

The index is built once over every passage, so term statistics (IDF, average length) are
those of the whole collection; a grouped query scores only the passages of its group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from core.retrieval.base import Hits, Passages, group_mask, top_k_rows

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

STOPWORDS = "en"  # bm25s' English list, as BEIR's and the peers' BM25 baselines remove


class BM25Retriever:
    """BM25 over `passages` (built on construction; a few seconds for 100k passages)."""

    def __init__(self, passages: Passages, stopwords: str = STOPWORDS) -> None:
        import bm25s

        self.passages = passages
        self.stopwords = stopwords
        self._groups = passages.group_codes()
        self._index = bm25s.BM25()
        if len(passages):
            tokens = bm25s.tokenize(passages.texts, stopwords=stopwords, show_progress=False)
            self._index.index(tokens, show_progress=False)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(n_queries, n_passages) BM25 scores (0 for a passage sharing no term)."""
        import bm25s

        out = np.zeros((len(queries), len(self.passages)), dtype=np.float32)
        if not len(self.passages) or not len(queries):
            return out
        tokens = bm25s.tokenize(
            list(queries), stopwords=self.stopwords, return_ids=False, show_progress=False
        )
        for i, words in enumerate(tokens):
            known = [w for w in words if w in self._index.vocab_dict]
            if known:
                out[i] = self._index.get_scores(known)
        return out

    def search(
        self,
        queries: Sequence[str],
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        scores = self.scores(queries)
        mask = group_mask(self._groups, self.passages.query_codes(query_groups))
        if mask is not None:
            scores = np.where(mask, -np.inf, scores)
        return top_k_rows(scores, top_k)
