"""ui/job_panel.py: the live panel reruns the whole page when any job it watches ends.

AppTest cannot tick a fragment's `run_every` on its own; a full run executes the fragment's
body inline, so a rerun it asks for shows as a second run of the script in one `run()`.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.jobs import run_worker, start_job


def _panel_page() -> None:
    import streamlit as st

    from core.store import Workspace
    from ui.job_panel import job_panel, watch

    st.session_state.runs = st.session_state.get("runs", 0) + 1
    for job_id in st.session_state.pop("started", []):  # the jobs this page's buttons started
        watch("t", job_id)
    job_panel(Workspace.open(st.session_state.ws_path), ("sleep",), "t", "The job failed")


def _app(ws) -> AppTest:
    at = AppTest.from_function(_panel_page, default_timeout=60)
    at.session_state["ws_path"] = str(ws.root)
    return at


def test_the_end_of_any_watched_job_reruns_the_page_and_reports_its_failure(ws):
    at = _app(ws)
    first = start_job(ws, "sleep", {"steps": "not a number"}, spawn=False)
    second = start_job(ws, "sleep", {"steps": 1, "seconds": 0}, spawn=False)
    # The page started both, one after the other (as the Evaluate page's evaluate and
    # geometry buttons do): both are watched, not only the last.
    at.session_state["started"] = [first, second]
    at.run()
    assert not at.exception and at.session_state["runs"] == 1  # both still queued
    assert run_worker(ws, first) == "failed"
    at.run()
    assert not at.exception
    assert at.session_state["runs"] == 3  # the first job's end reran the page
    assert [e.value for e in at.error] == [
        "The job failed: ValueError: invalid literal for int() with base 10: 'not a number'"
    ]
    at.run()
    assert at.session_state["runs"] == 4 and not at.error  # reported once, no more reruns
    assert run_worker(ws, second) == "succeeded"
    at.run()
    assert at.session_state["runs"] == 6  # the second one was still watched


def test_a_job_the_panel_sees_running_is_watched(ws):
    at = _app(ws)
    job = start_job(ws, "sleep", {"steps": 1, "seconds": 0}, spawn=False)  # e.g. from the CLI
    at.run()
    assert at.session_state["runs"] == 1
    assert run_worker(ws, job) == "succeeded"
    at.run()
    assert at.session_state["runs"] == 3  # its end reran the page
