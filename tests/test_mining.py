"""Mining: the margin rule on hand-made scores, and a real mining run on a SciFact slice."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.mining import (
    MiningSettings,
    flag_false_negative,
    index_kind,
    margin_threshold,
    mine_embeddings,
    mine_workspace,
    positive_scores,
    query_view,
    select_negatives,
)
from core.retrieval.faiss_index import ivf_lists
from core.training.data import load_training_data
from tests.training_helpers import small_scifact


def test_threshold_is_sign_safe():
    assert margin_threshold(0.8, 0.05, None) == pytest.approx(0.76)
    # Negative weakest positive: the threshold must lie *below* it (0.95*x would be above).
    assert margin_threshold(-0.2, 0.05, None) == pytest.approx(-0.21)
    assert margin_threshold(-0.2, 0.05, None) < -0.2 < 0.95 * -0.2
    assert margin_threshold(0.5, None, 0.1) == pytest.approx(0.4)
    assert margin_threshold(0.5, 0.05, 0.1) == pytest.approx(0.4)  # both: the stricter
    assert margin_threshold(0.5, None, None) == math.inf


def test_select_respects_margin_positives_and_k():
    ids = [10, 11, 12, 13, 14, 15, 16]
    scores = [0.90, 0.80, 0.78, 0.70, 0.60, 0.50, 0.40]
    sel = select_negatives(ids, scores, {10}, [0.80], k=3, relative_margin=0.05)
    # threshold 0.76: 11 (0.80) is a positive? no: only 10 is; 11 and 12 are >= 0.76.
    assert [c for c, _, _ in sel.negatives] == [13, 14, 15]
    assert [r for _, _, r in sel.negatives] == [4, 5, 6]
    assert sel.removed_by_margin == 2
    assert sel.threshold == pytest.approx(0.76)


def test_select_negative_positive_scores_and_skip_and_block():
    ids = [1, 2, 3, 4, 5, 6]
    scores = [-0.05, -0.10, -0.19, -0.205, -0.22, -0.30]
    sel = select_negatives(ids, scores, {3}, [-0.19, -0.2], k=2, relative_margin=0.05)
    # min_pos -0.2 -> threshold -0.21: 1, 2, 4 are too close; 3 is a positive.
    assert [c for c, _, _ in sel.negatives] == [5, 6]
    assert sel.removed_by_margin == 3
    sel = select_negatives(
        ids, scores, {3}, [-0.2], k=2, relative_margin=None, skip_top=1, blocked_ids={2}
    )
    assert [c for c, _, _ in sel.negatives] == [4, 5]  # 1 skipped, 2 blocked, 3 positive


def test_mine_embeddings_never_returns_positives_and_counts_stats():
    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(300, 16)).astype(np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    queries = chunks[:40] + 0.1 * rng.normal(size=(40, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    positives = [[i, (i + 1) % 300] for i in range(40)]
    settings = MiningSettings(negatives=4, query_block=7)  # several blocks
    res = mine_embeddings(queries, chunks, positives, settings)
    for i, sel in enumerate(res.selections):
        got = [c for c, _, _ in sel.negatives]
        assert not set(got) & set(positives[i])
        assert len(got) <= 4
        assert all(s < sel.threshold for _, s, _ in sel.negatives)
        assert res.positive_scores[i] == pytest.approx(
            [float(chunks[p] @ queries[i]) for p in positives[i]], abs=1e-5
        )
    stats = res.stats
    assert stats["queries"] == 40
    assert stats["negatives"] == sum(len(s.negatives) for s in res.selections)
    assert stats["queries_short_of_k"] == sum(len(s.negatives) < 4 for s in res.selections)
    assert stats["removed_by_margin"] == sum(s.removed_by_margin for s in res.selections)
    assert stats["mean_positive_score"] == pytest.approx(
        np.mean([s for ps in res.positive_scores for s in ps])
    )


def test_mine_workspace_stores_negatives_and_flags_apply(ws):
    small_scifact(ws, n_queries=10, n_other=20, n_val=2)
    out = mine_workspace(ws, MiningSettings(negatives=3, exclude_same_document=True))
    mid, stats = out["mining_id"], out["stats"]
    with ws.connect() as conn:
        n_pairs = conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]
    assert stats["queries"] == n_pairs >= 10 and stats["negatives"] > 0
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT pair_id, chunk_id FROM negatives WHERE mining_id = ?", (mid,)
        ).fetchall()
        pos = {(r[0], r[1]) for r in conn.execute("SELECT pair_id, chunk_id FROM pair_positives")}
        doc = dict(conn.execute("SELECT id, document_id FROM chunks").fetchall())
    assert rows and not {(r[0], r[1]) for r in rows} & pos
    pos_docs = {}
    for p, c in pos:
        pos_docs.setdefault(p, set()).add(doc[c])
    assert all(doc[c] not in pos_docs[p] for p, c in rows)  # own documents excluded
    with ws.connect() as conn:
        train = {r[0] for r in conn.execute("SELECT id FROM pairs WHERE split = 'train'")}
    pair_id, chunk_id = next((p, c) for p, c in rows if p in train)  # trained on below
    view = query_view(ws, pair_id, mid)
    assert view["negatives"][0]["rank"] >= 1 and view["positives"]
    assert positive_scores(ws, mid)[pair_id]
    # A flag 'positive' turns the negative into a training positive; 'exclude' drops it.
    flag_false_negative(ws, pair_id, chunk_id, "positive")
    data = load_training_data(ws)
    recs = [r for r in data.train if r.pair_id == pair_id]
    assert recs and chunk_id in recs[0].all_positive_ids and chunk_id not in recs[0].negative_ids
    flag_false_negative(ws, pair_id, chunk_id, "exclude")
    data = load_training_data(ws)
    assert all(
        chunk_id not in r.negative_ids and chunk_id not in r.all_positive_ids
        for r in data.train
        if r.pair_id == pair_id
    )


def _unit_vectors(rng, n: int, d: int = 16) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_auto_index_is_exact_below_the_threshold_approximate_above_and_overridable():
    rng = np.random.default_rng(1)
    chunks = _unit_vectors(rng, 2000)
    queries = _unit_vectors(rng, 20)
    positives = [[i] for i in range(20)]

    def index_of(**kw) -> str:
        return mine_embeddings(queries, chunks, positives, MiningSettings(**kw)).stats["index"]

    assert index_of(approximate_from=2001) == "exact"
    assert index_of(approximate_from=2000).startswith("ivf (45 lists, nprobe 45)")
    assert index_of(approximate_from=2000, nprobe=8) == "ivf (45 lists, nprobe 8)"
    assert index_of(approximate_from=2000, index="exact") == "exact"
    assert index_of(index="hnsw").startswith("hnsw (M 32, efSearch 256)")
    assert index_kind(MiningSettings(), 10**6) == "ivf"
    assert index_kind(MiningSettings(), 10**5) == "exact"
    with pytest.raises(
        ValueError, match=r"index must be 'auto', 'exact', 'ivf' or 'hnsw', not 'flat'"
    ):
        MiningSettings(index="flat").validate()


def _negatives(ws, mining_id: int) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    with ws.connect() as conn:
        for r in conn.execute(
            "SELECT pair_id, chunk_id, score FROM negatives WHERE mining_id = ? ORDER BY rank",
            (mining_id,),
        ):
            out.setdefault(r[0], []).append((r[1], r[2]))
    return out


class _EncodeOnce:
    """The base model with its embeddings kept by text: three minings embed the corpus once."""

    def __init__(self, model) -> None:
        self.model, self.seen = model, {}

    def get_embedding_dimension(self) -> int:
        return self.model.get_embedding_dimension()

    def encode(self, texts, **kw):
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.model.encode(todo, **kw), strict=True))
        return np.stack([self.seen[t] for t in texts])


def test_approximate_indexes_return_the_exact_negatives_on_a_real_corpus(ws):
    # SciFact abstracts with real MiniLM embeddings; a threshold of 50 chunks makes "auto"
    # approximate, and IVF scans 2 of its clusters only, so it can miss candidates.
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    small_scifact(ws, n_queries=16, n_other=70, n_val=0)
    model = _EncodeOnce(load_sentence_model(DEFAULT_BASE_MODEL))
    exact = mine_workspace(ws, MiningSettings(negatives=3, index="exact"), model=model)
    approx = mine_workspace(
        ws, MiningSettings(negatives=3, approximate_from=50, nprobe=2), model=model
    )
    hnsw = mine_workspace(ws, MiningSettings(negatives=3, index="hnsw"), model=model)
    assert exact["stats"]["index"] == "exact" and approx["stats"]["chunks"] > 80
    lists = ivf_lists(approx["stats"]["chunks"])
    assert lists > 2 and approx["stats"]["index"] == f"ivf ({lists} lists, nprobe 2)"
    assert hnsw["stats"]["index"].startswith("hnsw")

    truth = _negatives(ws, exact["mining_id"])
    with ws.connect() as conn:
        pos = {(r[0], r[1]) for r in conn.execute("SELECT pair_id, chunk_id FROM pair_positives")}
    for mined in (approx, hnsw):
        got = _negatives(ws, mined["mining_id"])
        assert set(got) == set(truth)
        found = sum(len({c for c, _ in got[p]} & {c for c, _ in truth[p]}) for p in truth)
        assert found >= 0.8 * sum(len(v) for v in truth.values())
        exact_score = {(p, c): s for p, v in truth.items() for c, s in v}
        for p, negs in got.items():
            assert not {(p, c) for c, _ in negs} & pos  # never a positive
            for c, s in negs:  # an approximate index misses candidates, never misjudges one
                if (p, c) in exact_score:
                    assert s == pytest.approx(exact_score[(p, c)], abs=1e-5)


def test_cli_mine_index_override(ws, capsys):
    from core.cli import main as cli_main

    small_scifact(ws, n_queries=4, n_other=4, n_val=0)
    assert cli_main(["mine", str(ws.root), "--negatives", "2", "--index", "hnsw", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["stats"]["index"].startswith("hnsw") and out["stats"]["negatives"] > 0
