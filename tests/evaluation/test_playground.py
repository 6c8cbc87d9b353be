"""Playground, embedding cache and merge curve on real MiniLM models (base and a nudged run)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.embedding_cache import cache_path, chunk_embeddings
from core.evaluation.compare import SetRetrievers, base_spec, bm25_spec, run_spec
from core.evaluation.datasets import workspace_set
from core.evaluation.playground import full_ranking, question_set, side_by_side
from core.evaluation.search import dense_retriever
from core.models import DEFAULT_BASE_MODEL, load_sentence_model, resolve_model
from core.store import Workspace
from tests.evaluation_helpers import make_tiny_workspace
from tests.playground_helpers import save_nudged_run, tiny_general_set

RUN = "run-t"


class NoEncode:
    """An embedder that must not be asked: the cache has to answer."""

    def encode(self, *args, **kwargs):
        raise AssertionError("encoded although the cache holds these texts")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = Workspace.create(tmp_path_factory.mktemp("pg") / "ws")
    make_tiny_workspace(ws)
    save_nudged_run(ws, RUN, scale=0.5)
    return ws.root


@pytest.fixture
def tws(template: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def test_cache_embeds_once_is_shared_with_generation_and_follows_the_model_folder(tws):
    from core.documents import list_chunks

    model = load_sentence_model(DEFAULT_BASE_MODEL)
    first = chunk_embeddings(tws, list_chunks(tws), model, DEFAULT_BASE_MODEL)
    assert first.shape == (6, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    # The playground's view of the same chunks reads generation's entries: nothing encoded.
    evalset = workspace_set(tws)
    again = dense_retriever(tws, evalset, DEFAULT_BASE_MODEL, NoEncode()).window_emb
    by_text = {c["text"]: row for c, row in zip(list_chunks(tws), first, strict=True)}
    expected = np.stack([by_text[d["text"]] for d in evalset.corpus.values()])
    assert np.array_equal(again, expected)
    # A run folder whose weights change (trained again, merged anew) gets a new cache key.
    folder = tws.run_dir(RUN) / "model"
    before = cache_path(tws, "chunk", str(folder))
    dense_retriever(tws, evalset, str(folder), load_sentence_model(str(folder)))
    weights = next(folder.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert cache_path(tws, "chunk", str(folder)) != before
    with pytest.raises(AssertionError, match="encoded"):
        dense_retriever(tws, evalset, str(folder), NoEncode())
    # The model card is not part of the key.
    key = cache_path(tws, "chunk", str(folder))
    (folder / "README.md").write_text("# another card\n")
    assert cache_path(tws, "chunk", str(folder)) == key
    assert cache_path(tws, "chunk", DEFAULT_BASE_MODEL) == cache_path(
        tws, "chunk", resolve_model(DEFAULT_BASE_MODEL)
    )


def test_side_by_side_gives_positives_ranks_and_rank_changes(tws):
    evalset = question_set(tws)
    base, tuned = base_spec(), run_spec(tws, RUN)
    qid = next(iter(evalset.queries))
    result = side_by_side(tws, evalset, base, tuned, evalset.queries[qid], qid, k=3)
    positive = next(iter(evalset.qrels[qid]))
    retrievers = SetRetrievers(evalset, tws)
    full_a = [d for d, _ in full_ranking(retrievers, evalset, base, evalset.queries[qid], None)]
    full_b = [d for d, _ in full_ranking(retrievers, evalset, tuned, evalset.queries[qid], None)]
    assert len(full_a) == len(full_b) == 6
    assert result.a.positive_ranks == {positive: full_a.index(positive) + 1}
    assert result.b.positive_ranks == {positive: full_b.index(positive) + 1}
    assert [h.doc_id for h in result.b.hits] == full_b[:3]
    for hit in result.b.hits:
        assert hit.other_rank == full_a.index(hit.doc_id) + 1
        assert hit.relevant == (hit.doc_id == positive)
    # Keyword search and the run fused with it rank the same corpus, the passage text shown.
    keyword = [d for d, _ in full_ranking(retrievers, evalset, bm25_spec(), result.query, None)]
    assert [h.doc_id for h in result.keyword.hits] == keyword[:3]
    assert result.hybrid.label == f"{RUN}+bm25"
    assert all(h.text for r in result.rankings for h in r.hits)
    # The nudged run moves passages: some hit shows a rank change.
    assert any(h.change for h in result.a.hits + result.b.hits)
    # A typed question has no known positive; an empty one is refused.
    typed = side_by_side(tws, evalset, base, tuned, "Why does bread rise?", k=2)
    assert typed.positives == [] and typed.a.positive_ranks == {}
    assert typed.a.hits[0].source == "cooking.txt"
    with pytest.raises(ValueError, match="question"):
        side_by_side(tws, evalset, base, tuned, "  ")


def test_question_set_without_pairs_is_the_workspace_chunks(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    make_tiny_workspace(ws, split="validation")  # nothing in the test split
    evalset = question_set(ws)
    assert len(evalset.corpus) == 6 and evalset.queries == {}


@pytest.mark.slow  # three merges and twelve evaluations: minutes on a loaded 2-core CPU
def test_merge_curve_job_measures_every_mix_on_both_sets(tws, tmp_path):
    from core.evaluation.merge_curve import ALPHAS, curve_rows, list_curves, point_at
    from core.evaluation.runner import run_evaluation
    from core.jobs import get_job, run_worker, start_job

    general = tiny_general_set(tmp_path / "general")
    params = {"run_id": RUN, "domain": {"dataset": "workspace"}, "general_dir": str(general)}
    job = start_job(tws, "merge_curve", params, spawn=False)
    assert run_worker(tws, job) == "succeeded"
    result = get_job(tws, job)["result"]
    assert [p["alpha"] for p in result["points"]] == list(ALPHAS)
    assert [p["model"] for p in result["points"]] == [
        "base",
        f"{RUN}-mix25",
        f"{RUN}-mix50",
        f"{RUN}-mix75",
        RUN,
    ]
    curve = json.loads((tws.root / result["curve_path"]).read_text())
    assert list_curves(tws, RUN)[0]["path"] == result["curve_path"]
    # The ends equal a plain evaluation of the base model and of the run on the same sets.
    for dataset, side in (({"dataset": "workspace"}, "domain"), (None, "general")):
        params = dataset or {"dataset": "beir", "beir_dir": str(general)}
        report = run_evaluation(tws, {**params, "models": ["base", RUN], "save": False})
        ndcg = [m["metrics"]["NDCG@10"] for m in report["models"]]
        assert point_at(curve, 0.0)[side] == pytest.approx(ndcg[0])
        assert point_at(curve, 1.0)[side] == pytest.approx(ndcg[1])
    assert point_at(curve, 0.3) is None
    assert len(curve_rows(curve)) == 5
    # A mix the curve made is a run of its own that evaluates like any run.
    report = run_evaluation(tws, {"models": [f"{RUN}-mix50"], "save": False})
    assert report["models"][0]["metrics"]["NDCG@10"] == pytest.approx(
        point_at(curve, 0.5)["domain"]
    )
