"""AppTest of the Negatives page: empty workspace, statistics, per-query view, a flag."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.jobs import list_jobs
from core.mining import MiningSettings, mine_workspace
from tests.helpers import page_app
from tests.training_helpers import small_scifact


def _app(ws) -> AppTest:
    return page_app(ws, "3_Negatives.py")


def test_stats_view_and_flag(ws):
    small_scifact(ws, n_queries=6, n_other=6, n_val=0)
    at = _app(ws).run()
    assert not at.exception
    assert any("No negatives mined yet" in i.value for i in at.info)
    at.selectbox(key="neg_index").set_value("hnsw")
    at.checkbox(key="neg_relative_margin_on").uncheck()  # the margin switched off
    at.checkbox(key="neg_absolute_margin_on").check().run()  # and the absolute one on
    assert at.number_input(key="neg_absolute_margin").value == 0.1  # the value it offers
    at.button(key="neg_start").click().run()  # starts a background job
    assert not at.exception
    jobs = list_jobs(ws, kind="mine")
    assert jobs and jobs[0]["params"]["negatives"] == 4 and jobs[0]["params"]["index"] == "hnsw"
    assert jobs[0]["params"]["relative_margin"] is None
    assert jobs[0]["params"]["absolute_margin"] == 0.1
    from core.jobs import cancel_job

    cancel_job(ws, jobs[0]["id"])  # the test mines in-process instead (faster, deterministic)
    mine_workspace(ws, MiningSettings(negatives=3))
    at = _app(ws).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Queries"]) > 0 and int(metrics["Negatives"]) > 0
    assert any(c.value.startswith("Search index: exact;") for c in at.caption)
    negs = at.dataframe[-1].value
    assert len(negs) >= 1 and negs["rank"].is_monotonic_increasing
    pos = at.dataframe[0].value
    assert pos["score"].notna().all()
    pair_id = at.selectbox(key="neg_query").value
    chunk = int(negs["chunk"].iloc[0])
    at.selectbox(key=f"neg_flag_{pair_id}_{chunk}").set_value("exclude").run()
    assert not at.exception
    with ws.connect() as conn:
        row = conn.execute(
            "SELECT action FROM false_negatives WHERE pair_id = ? AND chunk_id = ?",
            (pair_id, chunk),
        ).fetchone()
    assert row["action"] == "exclude"
    assert at.dataframe[-1].value["flag"].iloc[0] == "exclude"
