"""Exact dense retrieval: cosine similarity of normalised embeddings, searched in corpus blocks.

Only the running top-k per query is kept between blocks (torch.topk per block, then merged),
so memory is O(queries × block) rather than O(queries × corpus) and large corpora fit.
Optional grouping restricts each query's candidates to documents sharing its group id (e.g.
the query's own document or collection, the way a per-course chatbot searches one syllabus).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from core.embedding_cache import CHUNK_SPACE, beir_space, embed_texts, encode

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.evaluation.datasets import EvalSet
    from core.store import Workspace

Corpus = dict[str, dict[str, str]]
Queries = dict[str, str]
Results = dict[str, dict[str, float]]

DEFAULT_TOP_K = 100  # candidates kept per query; metrics go up to @100
CORPUS_BLOCK = 50_000  # documents scored at once (rows of the similarity block)
QUERY_BLOCK = 1_024  # queries scored at once
TITLE_SEP = " "  # BEIR's SentenceBERT joins title and text with one space


def doc_text(doc: dict[str, str]) -> str:
    """The text a corpus document is embedded as: title + " " + text, as BEIR does."""
    return (f"{doc.get('title') or ''}{TITLE_SEP}{doc.get('text') or ''}").strip()


def _group_codes(
    query_groups: Sequence[str | None] | None, doc_groups: Sequence[str | None] | None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Integer codes for group ids (None → a code that matches nothing, -1 vs -2)."""
    if query_groups is None or doc_groups is None:
        return None
    codes: dict[str, int] = {}
    q = [codes.setdefault(g, len(codes)) if g is not None else -1 for g in query_groups]
    d = [codes.setdefault(g, len(codes)) if g is not None else -2 for g in doc_groups]
    return torch.tensor(q), torch.tensor(d)


def exact_search(
    query_emb: np.ndarray | torch.Tensor,
    corpus_emb: np.ndarray | torch.Tensor,
    top_k: int = DEFAULT_TOP_K,
    query_groups: Sequence[str | None] | None = None,
    doc_groups: Sequence[str | None] | None = None,
    corpus_block: int = CORPUS_BLOCK,
    query_block: int = QUERY_BLOCK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k (scores, corpus indices), each (n_queries, k), best first, by dot product.

    Inputs should be unit-length (then the dot product is the cosine). Masked candidates
    (other groups) score -inf; rows with fewer than k allowed candidates end in -inf, index -1.
    """
    q_all = torch.as_tensor(query_emb, dtype=torch.float32)
    c_all = torch.as_tensor(corpus_emb, dtype=torch.float32)
    n_q, n_c = q_all.shape[0], c_all.shape[0]
    k = min(top_k, n_c)
    groups = _group_codes(query_groups, doc_groups)
    out_scores = torch.full((n_q, k), float("-inf"))
    out_idx = torch.full((n_q, k), -1, dtype=torch.long)
    if k == 0:
        return out_scores, out_idx
    for qs in range(0, n_q, query_block):
        q = q_all[qs : qs + query_block]
        best_s = torch.full((q.shape[0], 0), float("-inf"))
        best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
        for cs in range(0, n_c, corpus_block):
            block = c_all[cs : cs + corpus_block]
            sims = q @ block.T  # (queries in block, docs in block)
            if groups is not None:
                qg, dg = groups
                sims = sims.masked_fill(
                    qg[qs : qs + query_block, None] != dg[None, cs : cs + corpus_block],
                    float("-inf"),
                )
            s, i = torch.topk(sims, min(k, sims.shape[1]), dim=1)
            # Merge this block's top-k into the running top-k (a heap of size k per query).
            best_s = torch.cat([best_s, s], dim=1)
            best_i = torch.cat([best_i, i + cs], dim=1)
            best_s, pos = torch.topk(best_s, min(k, best_s.shape[1]), dim=1)
            best_i = torch.gather(best_i, 1, pos)
        best_i = best_i.masked_fill(torch.isinf(best_s), -1)
        out_scores[qs : qs + q.shape[0]] = best_s
        out_idx[qs : qs + q.shape[0]] = best_i
    return out_scores, out_idx


def to_results(
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    scores: torch.Tensor,
    indices: torch.Tensor,
) -> Results:
    """BEIR results dict {query_id: {doc_id: score}} from `exact_search` output (masked dropped)."""
    results: Results = {}
    for row, qid in enumerate(query_ids):
        hits = results.setdefault(qid, {})
        for s, i in zip(scores[row].tolist(), indices[row].tolist(), strict=True):
            if i >= 0:
                hits[doc_ids[i]] = float(s)
    return results


def dense_search(
    model: SentenceTransformer,
    corpus: Corpus,
    queries: Queries,
    top_k: int = DEFAULT_TOP_K,
    doc_groups: dict[str, str] | None = None,
    query_groups: dict[str, str] | None = None,
    batch_size: int = 32,
    on_progress: Callable[[str, int, int], None] | None = None,
    corpus_emb: np.ndarray | None = None,
) -> Results:
    """Embed corpus (title + text) and queries with `model`, return the exact top-k results.

    `doc_groups`/`query_groups` map ids to group ids; when both are given each query only sees
    documents of its own group. `on_progress(stage, done, total)` with stage "corpus"/"queries".
    `corpus_emb` reuses corpus embeddings already computed (rows in `corpus` order).
    """
    doc_ids = list(corpus)
    query_ids = list(queries)
    if corpus_emb is None:
        corpus_emb = encode(
            model,
            [doc_text(corpus[d]) for d in doc_ids],
            batch_size,
            (lambda d, t: on_progress("corpus", d, t)) if on_progress else None,
        )
    query_emb = encode(
        model,
        [queries[q] for q in query_ids],
        batch_size,
        (lambda d, t: on_progress("queries", d, t)) if on_progress else None,
    )
    grouped = doc_groups is not None and query_groups is not None
    scores, idx = exact_search(
        query_emb,
        corpus_emb,
        top_k,
        query_groups=[query_groups.get(q) for q in query_ids] if grouped else None,
        doc_groups=[doc_groups.get(d) for d in doc_ids] if grouped else None,
    )
    return to_results(query_ids, doc_ids, scores, idx)


def corpus_embeddings(
    ws: Workspace,
    evalset: EvalSet,
    model_name: str,
    embedder: Any = None,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """An evaluation set's corpus embedded (rows in corpus order): workspace chunks in the
    chunk space as stored (sharing generation's entries), a BEIR folder's documents as
    title + text in the folder's space."""
    folder = evalset.config.get("folder")
    if evalset.config.get("source") == "workspace" or not folder:
        space, texts = CHUNK_SPACE, [d["text"] for d in evalset.corpus.values()]
    else:
        space, texts = beir_space(folder), [doc_text(d) for d in evalset.corpus.values()]
    return embed_texts(ws, space, texts, model_name, embedder, batch_size, on_progress)
