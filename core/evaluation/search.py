"""An evaluation set searched through the retrieval layer (`core.retrieval`).

The set's corpus becomes `Passages` (a BEIR document as title + " " + text, as BEIR embeds
it; a workspace chunk as its text) with the set's document groups, so a grouped set's query
only sees its own group. Dense passages are embedded through the one embedding cache
(`core.embedding_cache`), a long passage as its windows (`core.retrieval.windows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.embedding_cache import CHUNK_SPACE, beir_space, embed_texts, encode
from core.retrieval.base import Passages, Results, Retriever, to_results
from core.retrieval.bm25 import BM25Retriever
from core.retrieval.dense import DenseRetriever
from core.retrieval.windows import DEFAULT_PASSAGE_MODE, PassageMode, passage_windows, token_counter

if TYPE_CHECKING:
    from core.evaluation.datasets import EvalSet
    from core.store import Workspace

DEFAULT_TOP_K = 100  # candidates kept per query; metrics go up to @100
TITLE_SEP = " "  # BEIR's SentenceBERT joins title and text with one space


def doc_text(doc: dict[str, str]) -> str:
    """The text a corpus document is searched as: title + " " + text, as BEIR does."""
    return (f"{doc.get('title') or ''}{TITLE_SEP}{doc.get('text') or ''}").strip()


def passages_of(evalset: EvalSet) -> Passages:
    """The set's corpus in its order, with each document's group when the set is grouped."""
    doc_ids = list(evalset.corpus)
    groups = None
    if evalset.doc_groups is not None and evalset.query_groups is not None:
        groups = [evalset.doc_groups.get(d) for d in doc_ids]
    return Passages([doc_text(evalset.corpus[d]) for d in doc_ids], groups)


def query_groups_of(evalset: EvalSet, query_ids: Sequence[str]) -> list[str | None] | None:
    """Each query's group (None when the set is not grouped)."""
    if evalset.doc_groups is None or evalset.query_groups is None:
        return None
    return [evalset.query_groups.get(q) for q in query_ids]


def _space(evalset: EvalSet) -> str:
    """The embedding cache space of the set's corpus: the workspace's chunks or the BEIR
    folder's."""
    folder = evalset.config.get("folder")
    if evalset.config.get("source") == "workspace" or not folder:
        return CHUNK_SPACE
    return beir_space(folder)


def dense_retriever(
    ws: Workspace | None,
    evalset: EvalSet,
    location: str,
    model: Any,
    batch_size: int = 32,
    passage_mode: PassageMode = DEFAULT_PASSAGE_MODE,
    on_progress: Callable[[int, int], None] | None = None,
) -> DenseRetriever:
    """The model `model` (loaded from `location`) over the set's passages; with a workspace
    the passage embeddings go through its cache, keyed by `location`."""
    passages = passages_of(evalset)
    texts, owner = passage_windows(passages.texts, token_counter(model), passage_mode)
    if ws is not None:
        emb = embed_texts(ws, _space(evalset), texts, location, model, batch_size, on_progress)
    else:
        emb = encode(model, texts, batch_size, on_progress)
    if not len(texts):
        emb = np.zeros((0, model.get_sentence_embedding_dimension() or 0), np.float32)
    return DenseRetriever(passages, lambda qs: encode(model, list(qs), batch_size), emb, owner)


def bm25_retriever(evalset: EvalSet) -> BM25Retriever:
    """Keyword search over the set's passages."""
    return BM25Retriever(passages_of(evalset))


def search_set(evalset: EvalSet, retriever: Retriever, top_k: int = DEFAULT_TOP_K) -> Results:
    """Every query of the set searched (within its group), as BEIR results."""
    query_ids = list(evalset.queries)
    hits = retriever.search(
        [evalset.queries[q] for q in query_ids], top_k, query_groups_of(evalset, query_ids)
    )
    return to_results(query_ids, list(evalset.corpus), hits)
