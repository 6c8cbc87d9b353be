"""Evaluation and geometry: metrics equal pytrec_eval's, exact block search, grouping,
significance, anisotropy, AUC, evaluation sets, and a real-model base-vs-run comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pytrec_eval

from core.evaluation.datasets import beir_set, workspace_set
from core.evaluation.metrics import evaluate, metric_table
from core.evaluation.significance import paired_test
from core.geometry import anisotropy, separation_auc
from core.store import Workspace, now_iso
from tests.conftest import SCIFACT_DIR
from tests.evaluation_helpers import make_tiny_workspace, save_base_as_run

QRELS = {
    "q1": {"d1": 1, "d3": 2},
    "q2": {"d2": 1},
    "q3": {"d5": 1},
}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.8, "d3": 0.3, "d4": 0.2},
    "q2": {"d1": 0.7, "d4": 0.6, "d2": 0.5},
    "q3": {"d1": 0.9, "d2": 0.1},  # relevant doc never retrieved
}


def test_metrics_equal_pytrec_eval():
    m = evaluate(QRELS, RUN)
    ev = pytrec_eval.RelevanceEvaluator(
        QRELS, {"ndcg_cut.1,3,5,10,100", "map_cut.3,10", "recall.1,3,10", "P.1,3", "recip_rank"}
    )
    ref = ev.evaluate(RUN)

    def mean(measure: str) -> float:
        return sum(v[measure] for v in ref.values()) / len(ref)

    assert m.n_queries == 3
    for k in (1, 3, 5, 10, 100):
        assert m.aggregate[f"NDCG@{k}"] == pytest.approx(mean(f"ndcg_cut_{k}"), abs=1e-5)
    assert m.aggregate["MAP@3"] == pytest.approx(mean("map_cut_3"), abs=1e-5)
    assert m.aggregate["MAP@10"] == pytest.approx(mean("map_cut_10"), abs=1e-5)
    assert m.aggregate["Recall@1"] == pytest.approx(mean("recall_1"), abs=1e-5)
    assert m.aggregate["Recall@3"] == pytest.approx(mean("recall_3"), abs=1e-5)
    assert m.aggregate["P@1"] == pytest.approx(mean("P_1"), abs=1e-5)
    assert m.aggregate["MRR"] == pytest.approx(mean("recip_rank"), abs=1e-5)
    # MRR@10 by hand for this run: q1 rank 1, q2 rank 3, q3 none.
    assert m.aggregate["MRR@10"] == pytest.approx((1 + 1 / 3 + 0) / 3, abs=1e-5)
    assert m.per_query["ndcg@10"]["q3"] == 0.0
    assert m.per_query["ndcg@10"]["q1"] == pytest.approx(ref["q1"]["ndcg_cut_10"])
    assert RUN["q1"] == {"d1": 0.9, "d2": 0.8, "d3": 0.3, "d4": 0.2}  # input left untouched


def test_query_without_results_counts_as_zero():
    m = evaluate(QRELS, {"q1": RUN["q1"]})
    assert m.n_queries == 3
    assert m.per_query["ndcg@10"]["q2"] == 0.0


def test_metric_table_is_long_rows_in_label_order():
    aggregate = evaluate(QRELS, RUN, k_values=(1, 10)).aggregate
    rows = metric_table({"base": aggregate, "tuned": {"NDCG@10": 0.5}}, k_values=(1, 10))
    base = [(r["metric"], r["k"]) for r in rows if r["model"] == "base"]
    assert base[:2] == [("nDCG", 1), ("nDCG", 10)]
    assert [m for m, _ in base[::2]] == ["nDCG", "Recall", "MAP", "Precision", "MRR"]
    assert rows[2] == {"model": "base", "metric": "Recall", "k": 1, "value": aggregate["Recall@1"]}
    # A model lacking cut-offs contributes only what it has.
    assert [r for r in rows if r["model"] == "tuned"] == [
        {"model": "tuned", "metric": "nDCG", "k": 10, "value": 0.5}
    ]


def test_significance_detects_a_clearly_better_run():
    rng = np.random.default_rng(3)
    base = {f"q{i}": float(v) for i, v in enumerate(rng.uniform(0.2, 0.6, size=60))}
    better = {q: min(1.0, v + 0.2 + rng.normal(0, 0.05)) for q, v in base.items()}
    sig = paired_test(base, better)
    assert sig.p_value < 0.05 and sig.significant
    assert 0 < sig.ci_low < sig.diff < sig.ci_high
    same = paired_test(base, dict(base))
    assert same.p_value >= 0.05 and not same.significant
    assert same.diff == 0 and same.ci_low == same.ci_high == 0
    assert paired_test(base, better).p_value == sig.p_value  # fixed seed: reproducible
    noisy = {q: v + rng.normal(0, 0.05) for q, v in base.items()}
    assert paired_test(base, noisy).p_value > 0.05


def test_anisotropy_isotropic_vs_cone():
    rng = np.random.default_rng(4)
    iso = rng.normal(size=(2000, 128))
    assert abs(anisotropy(iso)) < 0.01
    cone = rng.normal(size=(2000, 128)) * 0.1 + np.ones(128)  # all near one direction
    assert anisotropy(cone) > 0.9
    assert anisotropy(cone, seed=1) == pytest.approx(anisotropy(cone, seed=1))


def test_separation_auc():
    assert separation_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert separation_auc([0.1], [0.9]) == 0.0
    assert separation_auc([0.9, 0.5], [0.6, 0.1]) == pytest.approx(0.75)
    assert np.isnan(separation_auc([], [0.1]))


def test_workspace_set_holds_test_pairs_and_groups(ws):
    ids = make_tiny_workspace(ws)
    es = workspace_set(ws, "test")
    assert len(es.corpus) == 6 and len(es.queries) == 6  # rejected and train pairs left out
    qid = next(q for q, t in es.queries.items() if t.startswith("Why does bread"))
    assert es.qrels[qid] == {f"c{ids[('cooking.txt', 0)]}": 1}
    assert es.doc_groups is None
    grouped = workspace_set(ws, "test", group="document")
    assert grouped.doc_groups is not None and grouped.query_groups is not None
    assert grouped.query_groups[qid] == grouped.doc_groups[f"c{ids[('cooking.txt', 1)]}"]
    with pytest.raises(ValueError, match="no curated pairs"):
        workspace_set(ws, "validation")


def test_beir_set_with_group_field(tmp_path):
    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    docs = [("d1", "a", "apples"), ("d2", "a", "pears"), ("d3", "b", "cars")]
    (folder / "corpus.jsonl").write_text(
        "\n".join(
            json.dumps({"_id": d, "title": "", "text": t, "metadata": {"course": g}})
            for d, g, t in docs
        )
    )
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "fruit"}))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    es = beir_set(folder, group="course")
    assert es.doc_groups == {"d1": "a", "d2": "a", "d3": "b"}
    assert es.query_groups == {"q1": "a"}  # from its relevant document
    with pytest.raises(ValueError, match="no corpus document"):
        beir_set(folder, group="missing")


@pytest.mark.skipif(not SCIFACT_DIR.is_dir(), reason="SciFact not available")
def test_scifact_loads_as_general_set():
    from core.evaluation.datasets import general_set

    es = general_set(SCIFACT_DIR)
    assert len(es.corpus) == 5183 and len(es.queries) == 300


def test_cli_evaluate_base_and_run_on_real_model(ws, capsys):
    """Real MiniLM on the tiny workspace; a run identical to the base ties on every query."""
    from core.cli import main
    from core.evaluation.report import list_evaluations
    from core.models import DEFAULT_BASE_MODEL

    make_tiny_workspace(ws)
    save_base_as_run(ws, "run-a")
    assert main(["evaluate", str(ws.root), "--run", "run-a", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == "run-a"
    assert out["model_path"].endswith("runs/run-a/model")
    # Keyword search and the hybrids are scored beside base and run, with the same metrics.
    labels = [m["label"] for m in out["models"]]
    assert labels == ["base", "run-a", "bm25", "base+bm25", "run-a+bm25"]
    assert [m["kind"] for m in out["models"]] == ["dense", "dense", "bm25", "hybrid", "hybrid"]
    assert all(m["metrics"].keys() == out["models"][0]["metrics"].keys() for m in out["models"])
    assert out["models"][4]["weight"] == 0.5 and out["models"][4]["method"] == "minmax"
    assert out["reference_comparison"]["label_b"] == "run-a"
    # The base model finds every answer here: the headline says so instead of a gain.
    assert any("too easy" in line for line in out["headline"])
    base, run = (m["metrics"] for m in out["models"][:2])
    assert base["NDCG@10"] > 0.9  # these questions are easy for MiniLM
    assert run["NDCG@10"] == pytest.approx(base["NDCG@10"], abs=1e-4)
    cmp = out["comparison"]
    assert cmp["ties"] == 6 and cmp["wins"] == cmp["losses"] == 0
    assert cmp["significance"]["p_value"] >= 0.05
    report = json.loads((ws.root / out["report"]["json"]).read_text())
    saved = report["run_configs"]["run-a"]
    assert saved["config"] == {"base_model": DEFAULT_BASE_MODEL, "loss": "mnrl", "epochs": 1}
    assert saved["status"] == "succeeded"
    q = report["comparison"]["queries"][0]
    assert len(q["top_a"]) == 3 and q["relevant"]
    assert (ws.root / out["report"]["markdown"]).read_text().startswith("# Evaluation")
    assert len(list_evaluations(ws)) == 1

    # Grouped by document: each query only sees its document's two chunks.
    assert main(["evaluate", str(ws.root), "--group", "document", "--json", "--no-report"]) == 0
    grouped = json.loads(capsys.readouterr().out)
    assert grouped["dataset"]["grouped"] is True
    assert grouped["metrics"]["Recall@3"] == 1.0
    assert main(["evaluate", str(ws.root), "--run", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err


def _geometry(ws: Workspace, projection: str) -> dict:
    from core.evaluation.compare import base_spec
    from core.geometry import GeometrySettings, compute_geometry

    make_tiny_workspace(ws)
    settings = GeometrySettings(projection=projection, anisotropy_pairs=2000, split="test")
    return compute_geometry(ws, [base_spec()], settings)


def test_geometry_on_real_model_with_random_negatives(ws):
    geo = _geometry(ws, "pca")
    assert geo["negatives_source"].startswith("random")
    base = geo["models"]["base"]
    n_points = len(geo["points"]["kind"])
    assert geo["points"]["kind"].count("query") == 6  # the test pairs only
    assert len(base["umap"]["x"]) == n_points == 6 + 6
    assert len(base["pos_sims"]) == 6 and len(base["neg_sims"]) == 6 * 4
    # Easy questions: positives clearly above random chunks.
    assert base["auc"] > 0.9
    assert geo["summary"]["base"]["pos_mean"] > geo["summary"]["base"]["neg_mean"]
    assert -0.2 < base["anisotropy"]["chunks"] < 0.6


def test_geometry_uses_latest_mining_negatives(ws):
    from core.evaluation.compare import base_spec
    from core.geometry import GeometrySettings, compute_geometry

    ids = make_tiny_workspace(ws)
    with ws.connect() as conn:
        pair = conn.execute("SELECT id FROM pairs WHERE query LIKE 'Why does bread%'").fetchone()[0]
        for mining in (1, 2):
            conn.execute(
                "INSERT INTO minings (id, created_at, config) VALUES (?, ?, '{}')",
                (mining, now_iso()),
            )
        conn.execute(
            "INSERT INTO negatives VALUES (1, ?, ?, 0.5, 2)", (pair, ids[("history.txt", 0)])
        )
        conn.execute(
            "INSERT INTO negatives VALUES (2, ?, ?, 0.5, 2)", (pair, ids[("cooking.txt", 1)])
        )
    geo = compute_geometry(ws, [base_spec()], GeometrySettings(projection="pca"))
    assert geo["negatives_source"] == "mining #2"
    assert len(geo["models"]["base"]["neg_sims"]) == 1  # only that pair has mined negatives


@pytest.mark.slow
def test_geometry_umap_is_reproducible(ws):
    geo = _geometry(ws, "umap")
    from core.geometry import umap_2d

    xy = umap_2d(np.random.default_rng(0).normal(size=(40, 8)), seed=0)
    assert np.allclose(xy, umap_2d(np.random.default_rng(0).normal(size=(40, 8)), seed=0))
    assert geo["models"]["base"]["umap"]["method"] == "umap"
    assert len(set(geo["models"]["base"]["umap"]["x"])) > 1
