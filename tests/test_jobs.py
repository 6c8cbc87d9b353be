"""Job lifecycle with real worker processes: progress, cancel, resume, a killed worker."""

import os
import signal
import time

import pytest

from core.jobs import (
    JobError,
    cancel_job,
    get_job,
    list_jobs,
    log_tail,
    refresh_stale,
    resume_job,
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
