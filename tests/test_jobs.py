"""Job lifecycle with real worker processes: progress, cancel, resume, a killed worker."""

import os
import signal
import time

import pytest

from core import jobs
from core.jobs import (
    HANDLERS,
    JobContext,
    JobError,
    cancel_job,
    get_job,
    list_jobs,
    log_tail,
    refresh_stale,
    resume_job,
    run_worker,
    start_job,
    wait_job,
)


def _wait_for(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_job_runs_to_success_with_progress(ws):
    job_id = start_job(ws, "sleep", {"steps": 5, "seconds": 0.05})
    job = wait_job(ws, job_id, poll_s=0.1)
    assert job["status"] == "succeeded"
    assert job["progress"] == 1.0 and job["step"] == 5
    assert job["result"] == {"steps": 5}
    assert "job succeeded" in log_tail(ws, job_id)


def test_cancel_then_resume(ws):
    job_id = start_job(ws, "sleep", {"steps": 200, "seconds": 0.05}, run_id="r1")
    assert _wait_for(lambda: get_job(ws, job_id)["step"] >= 2)
    with pytest.raises(JobError, match="already being written"):
        start_job(ws, "sleep", {"steps": 1}, run_id="r1")
    cancel_job(ws, job_id)
    assert wait_job(ws, job_id, poll_s=0.1)["status"] == "cancelled"
    new_id = resume_job(ws, job_id)
    assert get_job(ws, new_id)["params"]["resume"] is True
    assert _wait_for(lambda: get_job(ws, new_id)["step"] >= 1)  # running: 200 steps to go
    cancel_job(ws, new_id)
    assert wait_job(ws, new_id, poll_s=0.1)["status"] == "cancelled"


def test_killed_worker_is_marked_failed_with_log(ws):
    job_id = start_job(ws, "sleep", {"steps": 500, "seconds": 0.05})
    assert _wait_for(lambda: get_job(ws, job_id)["status"] == "running")
    assert _wait_for(lambda: get_job(ws, job_id)["step"] >= 1)
    os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)
    assert _wait_for(lambda: bool(refresh_stale(ws)) or get_job(ws, job_id)["status"] == "failed")
    job = get_job(ws, job_id)
    assert job["status"] == "failed"
    assert "died" in job["error"] and "started" in job["error"]
    assert list_jobs(ws, active_only=True) == []


def test_unknown_kind_refused(ws):
    with pytest.raises(JobError, match="unknown job kind"):
        start_job(ws, "nope", {})


def test_a_job_cancelled_as_its_worker_starts_stays_cancelled(ws, monkeypatch):
    """The cancel lands after the worker read its row as queued, before it marked it running:
    the job must not start (it used to overwrite the cancel and run to the end)."""
    job_id = start_job(ws, "sleep", {"steps": 1, "seconds": 0}, spawn=False)
    folder_of = jobs.job_folder

    def cancel_then_folder(ws_, jid, run_id):
        assert cancel_job(ws_, jid) == "cancelled"  # queued: recorded as cancelled at once
        return folder_of(ws_, jid, run_id)

    monkeypatch.setattr(jobs, "job_folder", cancel_then_folder)
    assert run_worker(ws, job_id) == "cancelled"
    job = get_job(ws, job_id)
    assert job["status"] == "cancelled" and job["started_at"] is None and job["step"] == 0


def stopping_through_an_error_job(ctx: JobContext) -> dict:
    """Cancels itself (SIGTERM to this process), then meets the cancel inside a library that
    wraps every error of its callback in its own, as a progress callback often is."""
    assert cancel_job(ctx.ws, ctx.job_id) == "cancelling"
    assert _wait_for(lambda: ctx.cancelled, timeout=5)  # the SIGTERM handler has run
    try:
        ctx.progress(1, 2, "halfway")
    except Exception as exc:
        raise RuntimeError("the encoder's callback failed") from exc
    return {}


def test_a_cancel_that_surfaces_as_another_error_is_reported_cancelled(ws, monkeypatch):
    monkeypatch.setitem(HANDLERS, "stop-through-error", f"{__name__}:stopping_through_an_error_job")
    before = signal.getsignal(signal.SIGTERM)
    job_id = start_job(ws, "stop-through-error", {}, spawn=False)
    assert run_worker(ws, job_id) == "cancelled"  # was "failed": RuntimeError
    job = get_job(ws, job_id)
    assert job["status"] == "cancelled" and job["error"] == "cancelled by the user"
    assert "the encoder's callback failed" in log_tail(ws, job_id)  # the stop is in the log
    assert signal.getsignal(signal.SIGTERM) is before  # the worker's handler is not left behind


def test_a_missing_engine_module_is_an_error_not_unknown_kinds(ws, monkeypatch):
    """A renamed engine module must not leave its job kinds quietly unregistered."""
    monkeypatch.setattr(jobs, "HANDLER_MODULES", (*jobs.HANDLER_MODULES, "core.renamed_engine"))
    with pytest.raises(ModuleNotFoundError, match=r"core\.renamed_engine"):
        start_job(ws, "a-kind-nobody-registered", {})
