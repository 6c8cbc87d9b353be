"""AppTest of the Export page: empty state, starting an export job, showing a finished export."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import core.jobs
from core.jobs import get_job, list_jobs
from tests.export_helpers import RUN_ID, add_run
from tests.helpers import page_app


def _app(ws) -> AppTest:
    return page_app(ws, "6_Export.py")


def test_export_button_starts_a_job(ws, monkeypatch):
    add_run(ws, "run-page")
    real_start = core.jobs.start_job
    # Record the job without spawning the worker: the page's part is the request.
    monkeypatch.setattr(core.jobs, "start_job", lambda *a, **k: real_start(*a, **k, spawn=False))
    at = _app(ws).run()
    assert not at.exception
    assert any("No export yet" in i.value for i in at.info)
    at.checkbox(key="exp_int8").uncheck()
    at.number_input(key="exp_texts").set_value(16)
    at.button(key="exp_start").click().run()
    assert not at.exception
    jobs = list_jobs(ws, kind="export")
    assert len(jobs) == 1
    assert jobs[0]["params"] == {"run_id": "run-page", "int8": False, "n_texts": 16}
    core.jobs.cancel_job(ws, jobs[0]["id"])
    assert get_job(ws, jobs[0]["id"])["status"] == "cancelled"


def test_finished_export_shows_parity_card_download_and_serve_command(exported):
    ws, info = exported
    at = _app(ws).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["format"]) == ["onnx-fp32", "onnx-int8"]
    assert table["mean cosine"].min() >= 0.99 and table["passed"].all()
    assert any("Model card" in e.label for e in at.expander)
    assert any(RUN_ID in m.value and "Limitations" in m.value for m in at.markdown)
    assert at.get("download_button")  # the zip is offered
    codes = [c.value for c in at.code]
    assert any(f"embstudio serve {info['path']}/onnx-int8" in c for c in codes)
    assert any(f'model="{RUN_ID}"' in c for c in codes)
