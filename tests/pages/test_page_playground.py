"""AppTest of the Playground page and of the Evaluate page's regressions and merge sections,
on a tiny workspace with a nudged MiniLM run, a saved evaluation and a merge curve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import cancel_job, list_jobs, wait_job
from core.store import Workspace
from tests.conftest import REPO
from tests.helpers import page_app
from tests.playground_helpers import compared_workspace

RUN = "run-t"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return compared_workspace(tmp_path_factory.mktemp("cmp")).root.parent


@pytest.fixture
def cws(template: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "t")
    return Workspace.open(tmp_path / "t" / "ws")


def test_playground_typed_question_shows_both_rankings(cws):
    at = page_app(cws, "8_Playground.py", 300).run()
    assert not at.exception, at.exception
    assert any("Type a question above" in i.value for i in at.info)
    assert at.selectbox(key="pg_model_a").value == "base"
    assert at.selectbox(key="pg_model_b").value == f"{RUN}-mix50"  # the newest run: the mix
    at.selectbox(key="pg_model_b").set_value(RUN)
    at.number_input(key="pg_k").set_value(3)
    at.text_input(key="pg_query").input("Why does bread dough rise?").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # Four columns (A, B, keyword search, B fused with it), three hits each, passage text shown.
    for side, label in (("a", "base"), ("b", RUN), ("kw", "bm25"), ("hy", f"{RUN}+bm25")):
        column = at.container(key=f"pg_col_{side}")
        assert any(f"`{label}`" in m.value for m in column.markdown)
        assert len([c for c in column.caption if "—" in c.value]) == 3
    first = at.container(key="pg_hit_a_1")
    assert "yeast" in first.caption[0].value
    assert "yeast" in at.container(key="pg_hit_kw_1").caption[0].value
    assert not any("Known positive" in m.value for m in at.markdown)  # a typed question


def test_playground_known_question_marks_its_positive(cws):
    at = page_app(cws, "8_Playground.py", 300).run()
    at.radio(key="pg_mode").set_value("pick").run()
    assert not at.exception
    assert any("Known positive" in m.value for m in at.markdown)
    assert sum("Known positive at rank" in c.value for c in at.caption) == 4
    assert any("✅" in m.value for m in at.markdown)


def test_evaluate_regressions_open_the_playground_and_the_slider_moves_the_mark(cws):
    at = page_app(cws, "5_Evaluate.py", 300).run()
    assert not at.exception, at.exception
    assert any("#regressions" in m.value for m in at.markdown)  # the wins/losses link
    queries = next(df.value for df in at.dataframe if "delta" in df.value.columns)
    assert list(queries["delta"]) == sorted(queries["delta"])  # largest loss first
    assert (queries["delta"] < 0).any()
    assert at.selectbox(key="ev_query").value == queries.iloc[0]["query_id"]

    # Through the app's navigation, as in the browser: the button switches page.
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    app.session_state["workspace_path"] = str(cws.root)
    app.switch_page("pages/5_Evaluate.py").run()
    app.selectbox(key="ev_query").set_value(queries.iloc[0]["query_id"])
    app.button(key="ev_open_playground").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Playground"]
    assert app.selectbox(key="pg_query_id").value == queries.iloc[0]["query_id"]
    assert [app.selectbox(key=k).value for k in ("pg_model_a", "pg_model_b")] == ["base", RUN]
    assert sum("Known positive at rank" in c.value for c in app.caption) == 4  # four columns
    assert any("Known positive" in m.value for m in app.markdown)

    at = page_app(cws, "5_Evaluate.py", 300).run()
    assert at.select_slider(key="ev_merge_alpha").value == 0.5
    marked = [m.value for m in at.markdown if m.value.startswith("**Marked")]
    assert marked and marked[0].startswith(f"**Marked: α = 0.5** ({RUN}-mix50)")
    at.select_slider(key="ev_merge_alpha").set_value(1.0).run()
    marked = [m.value for m in at.markdown if m.value.startswith("**Marked")]
    assert marked and marked[0].startswith(f"**Marked: α = 1** ({RUN})")
    at.select_slider(key="ev_merge_alpha").set_value(0.25).run()
    assert not any(m.value.startswith("**Marked") for m in at.markdown)  # not measured

    # The curve button starts a merge_curve job on the chosen domain set.
    at.button(key="ev_merge_curve_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = list_jobs(cws, kind="merge_curve")
    assert job["params"]["run_id"] == RUN and job["params"]["domain"]["dataset"] == "workspace"
    cancel_job(cws, job["id"])
    assert wait_job(cws, job["id"], poll_s=0.5)["status"] == "cancelled"


def test_the_playground_opens_what_the_evaluate_page_asked_for(cws):
    from core.evaluation.datasets import workspace_set

    qid = list(workspace_set(cws).queries)[2]
    at = page_app(cws, "8_Playground.py", 300)
    at.session_state["pg_request"] = {
        "params": {"dataset": "workspace", "split": "test", "models": ["base", RUN]},
        "query_id": qid,
        "models": ["base", RUN],
    }
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="pg_mode").value == "pick"
    assert at.selectbox(key="pg_query_id").value == qid
    assert at.selectbox(key="pg_model_b").value == RUN
    assert sum("Known positive at rank" in c.value for c in at.caption) == 4
