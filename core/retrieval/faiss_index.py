"""faiss indexes for large corpora: exact (flat), IVF (inverted lists, about sqrt(n) of them)
and HNSW (a graph, CPU only), inner product on unit-length rows (= cosine). With faiss-gpu
installed, exact and IVF indexes live on every visible GPU. Scores are exact cosines either
way: an approximate index can only miss candidates, never misjudge one.

Mining searches through `FaissRetriever`; measured in bench/RESULTS_scale.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from core.retrieval.base import EmbeddingRetriever, Hits, Passages

IndexKind = Literal["exact", "ivf", "hnsw"]
GPU_MAX_K = 2048  # faiss on a GPU returns at most this many neighbours (and probes as many lists)
GROUP_OVERSAMPLE = 4  # a grouped search asks this many times k, then keeps the query's group


def faiss_gpus() -> int:
    """GPUs faiss can use: 0 with faiss-cpu, the visible GPUs with faiss-gpu."""
    import faiss

    return int(getattr(faiss, "get_num_gpus", lambda: 0)())


def ivf_lists(n_vectors: int) -> int:
    """IVF clusters for `n_vectors`: about sqrt(n), so a cluster holds about sqrt(n) vectors,
    and at most n/39 (faiss wants 39 training vectors per cluster)."""
    return max(1, min(n_vectors // 39, round(math.sqrt(n_vectors))))


def build_index(
    vectors: np.ndarray,
    kind: IndexKind,
    depth: int,
    gpus: int = 0,
    nprobe: int = 64,
    ef_search: int = 256,
) -> tuple[Any, str]:
    """A faiss inner-product index of `kind` holding `vectors` [n, d], set up to return
    `depth` neighbours per query (on every GPU when `gpus`), and its one-line description.
    nprobe: IVF clusters scanned per query; ef_search: HNSW candidate list per query."""
    import faiss

    n, d = vectors.shape
    nlist = ivf_lists(n)
    spec = {"exact": "Flat", "ivf": f"IVF{nlist},Flat", "hnsw": "HNSW32"}[kind]
    index = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
    if gpus:
        index = faiss.index_cpu_to_all_gpus(index)
    if kind == "ivf":
        # 64 vectors per cluster train k-means as well as all of them, at a fraction of the time.
        rows = np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)
        index.train(vectors[np.sort(rows)])
    index.add(vectors)
    params = faiss.GpuParameterSpace() if gpus else faiss.ParameterSpace()
    described = "exact"
    if kind == "ivf":
        probes = min(nprobe, nlist, GPU_MAX_K if gpus else nlist)
        params.set_index_parameter(index, "nprobe", probes)
        described = f"ivf ({nlist} lists, nprobe {probes})"
    elif kind == "hnsw":
        ef = max(ef_search, depth)
        params.set_index_parameter(index, "efSearch", ef)
        described = f"hnsw (M 32, efSearch {ef})"
    return index, described + (f" on {gpus} GPU(s)" if gpus else "")


class FaissRetriever(EmbeddingRetriever):
    """Search of unit-length passage embeddings through a faiss index (one row per passage).

    A grouped query asks the index for `GROUP_OVERSAMPLE` × k neighbours and keeps those of
    its group, so it may return fewer than k when its group is a small part of the corpus."""

    def __init__(
        self,
        passages: Passages,
        passage_emb: np.ndarray,
        kind: IndexKind = "exact",
        depth: int = 100,
        nprobe: int = 64,
        ef_search: int = 256,
        encode_queries: Any = None,
    ) -> None:
        self.passages = passages
        self.encode_queries = encode_queries
        self.gpus = faiss_gpus() if kind != "hnsw" else 0
        vectors = np.ascontiguousarray(passage_emb, dtype=np.float32)
        self.max_k = min(len(vectors), GPU_MAX_K if self.gpus else len(vectors))
        self.index, self.described = build_index(
            vectors, kind, min(depth, self.max_k), self.gpus, nprobe, ef_search
        )
        self._groups = passages.group_codes()

    def search_embeddings(
        self,
        query_emb: np.ndarray,
        top_k: int,
        query_groups: Sequence[str | None] | None = None,
    ) -> Hits:
        q = np.ascontiguousarray(query_emb, dtype=np.float32)
        q_codes = self.passages.query_codes(query_groups)
        ask = top_k if q_codes is None else top_k * GROUP_OVERSAMPLE
        scores, ids = self.index.search(q, min(ask, self.max_k))
        ids = ids.astype(np.int64)
        scores = scores.astype(np.float32)
        if q_codes is not None and self._groups is not None:
            hit_groups = self._groups[np.maximum(ids, 0)]  # (n_queries, asked)
            bad = (ids < 0) | (hit_groups != q_codes[:, None]) | (q_codes[:, None] < 0)
            scores = np.where(bad, -np.inf, scores)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
            scores = np.take_along_axis(scores, order, axis=1)
            ids = np.take_along_axis(ids, order, axis=1)
        ids[~np.isfinite(scores) | (ids < 0)] = -1
        return Hits(scores[:, :top_k], ids[:, :top_k])
