"""The retrieval layer: each backend against brute force, groups, long passages, fusion."""

from __future__ import annotations

import numpy as np
import pytest

from core.retrieval.base import Passages, to_results
from core.retrieval.bm25 import BM25Retriever
from core.retrieval.dense import DenseRetriever
from core.retrieval.faiss_index import FaissRetriever
from core.retrieval.fusion import FusedRetriever, fuse_rows
from core.retrieval.windows import passage_windows, split_words


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class FixedEncoder:
    """Queries given as the ids of precomputed rows ("q0", "q1", …)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def __call__(self, texts):
        return self.rows[[int(t[1:]) for t in texts]]


def test_dense_search_equals_brute_force_in_blocks(monkeypatch):
    rng = np.random.default_rng(1)
    q, c = _unit(rng.normal(size=(37, 16))), _unit(rng.normal(size=(503, 16)))
    monkeypatch.setattr("core.retrieval.dense.BLOCK_CELLS", 503 * 8)  # 8 queries a block
    dense = DenseRetriever(Passages([""] * 503), FixedEncoder(q), c)
    hits = dense.search([f"q{i}" for i in range(37)], 10)
    ref = np.argsort(-(q @ c.T), axis=1, kind="stable")[:, :10]
    assert np.array_equal(hits.indices, ref)
    assert np.allclose(hits.scores, np.take_along_axis(q @ c.T, ref, axis=1), atol=1e-6)
    # top_k larger than the corpus keeps every passage.
    small = DenseRetriever(Passages([""] * 5), FixedEncoder(q), c[:5]).search(["q0", "q1"], 100)
    assert small.indices.shape == (2, 5) and sorted(small.indices[0].tolist()) == [0, 1, 2, 3, 4]


def test_groups_restrict_every_backend_to_the_querys_group():
    rng = np.random.default_rng(2)
    q, c = _unit(rng.normal(size=(20, 8))), _unit(rng.normal(size=(60, 8)))
    groups = [f"g{i % 3}" for i in range(60)]
    query_groups = [f"g{i % 3}" for i in range(20)]
    words = ["apple", "river", "stone"]
    passages = Passages([f"{words[i % 3]} text {i}" for i in range(60)], groups)
    queries = [f"q{i}" for i in range(20)]
    dense = DenseRetriever(passages, FixedEncoder(q), c).search(queries, 25, query_groups)
    exact = FaissRetriever(passages, c, "exact", encode_queries=FixedEncoder(q))
    via_faiss = exact.search(queries, 20, query_groups)
    for row in range(20):
        kept = [i for i in dense.indices[row].tolist() if i >= 0]
        assert len(kept) == 20  # each group holds 20 passages, the rest is padding
        allowed = [i for i in range(60) if groups[i] == query_groups[row]]
        assert kept == sorted(allowed, key=lambda i: -float(q[row] @ c[i]))[:20]
        # faiss asks 4 × k neighbours and keeps the group's: a prefix of the exact order.
        found = [i for i in via_faiss.indices[row].tolist() if i >= 0]
        assert found and found == kept[: len(found)]
    keyword = BM25Retriever(passages).search(["apple", "apple"], 60, ["g1", "g0"])
    assert {groups[i] for i in keyword.indices[0] if i >= 0} == {"g1"}
    assert {groups[i] for i in keyword.indices[1] if i >= 0} == {"g0"}
    results = to_results(queries, [f"d{i}" for i in range(60)], dense)
    assert len(results["q0"]) == 20


def test_bm25_finds_the_passage_that_names_the_thing():
    passages = Passages(
        [
            "The midterm exam is on October 12 in room 101.",
            "Office hours are on Tuesdays after the lecture.",
            "Late homework loses ten percent per day.",
        ]
    )
    hits = BM25Retriever(passages).search(["When is the midterm?", "zzz unknown"], 3)
    assert hits.row(0)[0][0] == 0
    assert all(s == 0 for _, s in hits.row(1))  # no shared term: every passage scores 0


def test_a_long_passage_scores_its_best_window():
    text = " ".join(f"w{i}" for i in range(400))
    windows = split_words(text, words=160, stride=120)
    assert windows[0].split()[0] == "w0" and windows[-1].split()[-1] == "w399"
    assert all(len(w.split()) == 160 for w in windows)
    texts, owner = passage_windows(
        ["short", text], lambda ts: [len(t) > 100 for t in ts], "windows"
    )
    assert texts[0] == "short" and owner.tolist() == [0] + [1] * len(windows)
    assert passage_windows(["short", text], lambda ts: [True, True], "truncate")[0] == [
        "short",
        text,
    ]
    # Passage 1's second window matches the query: the passage scores that window's cosine.
    emb = _unit(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0]], dtype=np.float32))
    dense = DenseRetriever(
        Passages(["a", "b"]),
        FixedEncoder(_unit(np.array([[0, 0, 1.0]]))),
        emb,
        np.array([0, 1, 1, 1]),
    )
    hits = dense.search(["q0"], 2)
    assert hits.row(0)[0] == (1, pytest.approx(1.0))
    assert dense.rank_of(dense.encode_queries(["q0"]), [[0]]) == [2]


def test_minmax_fusion_is_the_weighted_mean_of_scaled_scores():
    first = [(0, 0.9), (1, 0.5), (2, 0.1)]  # scaled 1, 0.5, 0
    second = [(2, 12.0), (0, 2.0)]  # scaled 1, 0
    fused = dict(fuse_rows(first, second, 0.5, "minmax"))
    assert fused == pytest.approx({0: 0.5, 1: 0.25, 2: 0.5})
    assert [i for i, _ in fuse_rows(first, second, 1.0, "minmax")] == [0, 1, 2]
    assert fuse_rows(first, second, 0.0, "minmax")[0][0] == 2
    rrf = dict(fuse_rows(first, second, 0.5, "rrf"))
    assert rrf[0] == pytest.approx(0.5 / 61 + 0.5 / 62)
    with pytest.raises(ValueError, match="weight"):
        FusedRetriever(None, None, 1.5)  # type: ignore[arg-type]
