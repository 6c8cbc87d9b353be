"""AppTest of the Evaluate page with two tiny runs (the base model saved as runs/<id>/model)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.jobs import cancel_job, get_job, list_jobs, run_worker, start_job, wait_job
from tests.evaluation_helpers import make_tiny_workspace, save_base_as_run
from tests.helpers import page_app


def _app(ws) -> AppTest:
    return page_app(ws, "5_Evaluate.py", timeout_s=120)


def test_evaluate_page_shows_results_geometry_and_starts_jobs(ws):
    make_tiny_workspace(ws)
    save_base_as_run(ws, "run-a")
    save_base_as_run(ws, "run-b")
    evaluation = start_job(ws, "evaluate", {"models": ["base", "run-a"]}, spawn=False)
    assert run_worker(ws, evaluation) == "succeeded"
    result = get_job(ws, evaluation)["result"]
    assert (ws.root / result["report_paths"]["json"]).is_file()
    job = start_job(ws, "geometry", {"models": ["base", "run-a"], "projection": "pca"}, spawn=False)
    assert run_worker(ws, job) == "succeeded"

    at = _app(ws).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # Runs and model choices.
    # Newest run first; run-b was saved after run-a (often within the same second).
    assert at.selectbox(key="ev_model_a").options == ["base", "run-b", "run-a"]
    assert at.selectbox(key="ev_model_b").value == "run-b"
    # The five retrievers, keyword search and the hybrids beside the two models, and the
    # headline: these tiny questions are at the ceiling, which it says instead of a gain.
    retrievers = at.table[0].value
    assert list(retrievers.index) == ["base", "run-a", "bm25", "base+bm25", "run-a+bm25"]
    assert any("too easy" in i.value for i in at.info)
    assert any("scored by their best" in c.value for c in at.caption)
    # Metrics table: every metric at every k for every retriever.
    table = at.dataframe[1].value  # runs, metrics, per-query tables
    assert list(table.columns) == ["base", "run-a", "bm25", "base+bm25", "run-a+bm25"]
    assert len(table) == 5 * 5
    ndcg10 = result["metrics"]["base"]["NDCG@10"]
    assert abs(float(table.loc[("nDCG", 10), "base"]) - ndcg10) < 1e-9
    # Significance line and per-query counts: identical models tie everywhere.
    assert any("p = 1.0000" in w.value and "not significant" in w.value for w in at.warning)
    assert [m.value for m in at.metric] == ["0", "0", "6"]
    queries = at.dataframe[2].value
    assert len(queries) == 6 and set(queries["outcome"]) == {"tie"}
    assert any("Top 3 of run-a" in m.value for m in at.markdown)
    assert any("**Relevant**" in m.value for m in at.markdown)
    at.radio(key="ev_outcome").set_value("loss").run()
    assert any("No queries with this outcome" in c.value for c in at.caption)
    # Charts: metrics per k, anisotropy, histograms, and one projection per model.
    charts = at.get("plotly_chart")
    assert len(charts) == 1 + 1 + 1 + 2
    assert any("separation AUC" in m.value for m in at.markdown)
    assert len(at.get("download_button")) == 3

    # Starting an evaluation from the page records a job with the chosen models.
    at.selectbox(key="ev_model_b").set_value("run-b").run()
    at.button(key="ev_start").click().run()
    assert not at.exception
    started = [j for j in list_jobs(ws, kind="evaluate") if j["id"] != evaluation]
    assert len(started) == 1
    assert started[0]["params"]["models"] == ["base", "run-b"]
    assert started[0]["params"]["dataset"] == "workspace"
    cancel_job(ws, started[0]["id"])  # no need to spend the CPU on it here
    assert wait_job(ws, started[0]["id"], poll_s=0.5)["status"] == "cancelled"


def test_evaluate_page_without_pairs_explains(ws):
    """Documents but no evaluation yet: the results section says what to do."""
    make_tiny_workspace(ws)
    at = _app(ws).run()
    assert not at.exception
    assert any("No evaluation yet" in i.value for i in at.info)
    assert any("No geometry yet" in i.value for i in at.info)
    assert at.selectbox(key="ev_model_b").value == "(none)"


def test_a_final_fit_is_not_offered_for_the_workspace_split(ws):
    from core import runs
    from tests.gen_helpers import ingest_sample

    ingest_sample(ws)
    for run_id, final_of in (("run-a", ""), ("run-a-all", "run-a")):
        runs.record_run(ws, run_id, {"base_model": "m", "loss": "mnrl", "final_of": final_of})
        model = runs.folder(ws, run_id).model
        model.mkdir(parents=True)
        (model / "modules.json").write_text("[]")  # the mark of a saved model
        runs.finish_run(ws, run_id)
    at = page_app(ws, "5_Evaluate.py").run()
    assert not at.exception
    assert at.selectbox(key="ev_model_b").value == "run-a"  # the newest split run, not the fit
    at.selectbox(key="ev_model_b").set_value("run-a-all").run()
    at.button(key="ev_start").click().run()
    assert any("final fit of run-a" in e.value for e in at.error)
    assert list_jobs(ws, kind="evaluate") == []
