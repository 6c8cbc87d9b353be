"""core/runs.py: a run's row, folder, derived status and model."""

from __future__ import annotations

import sqlite3

import pytest

from core import runs
from core.jobs import cancel_job, finish_job, start_job
from core.store import MIGRATIONS, SCHEMA_VERSION, _split_sql, migrate


def _saved_model(ws, run_id: str) -> None:
    model = runs.folder(ws, run_id).model
    model.mkdir(parents=True, exist_ok=True)
    (model / "modules.json").write_text("[]")  # the mark of a saved sentence-transformers folder


def _run(ws, run_id: str, **config) -> runs.RunFolder:
    return runs.record_run(ws, run_id, {"base_model": "m", "loss": "mnrl", **config})


def test_list_runs_newest_first_with_stable_ties(ws):
    """Runs started in the same second keep insertion order (newest first) on every page."""
    for run_id in ("run-old", "run-b", "run-a"):
        _run(ws, run_id)
    for run_id in ("run-old", "run-a"):
        _saved_model(ws, run_id)
        runs.finish_run(ws, run_id)
    with ws.connect() as conn:
        conn.execute("UPDATE runs SET created_at = '2026-01-02T00:00:00+00:00'")
        conn.execute("UPDATE runs SET created_at = '2026-01-01T00:00:00+00:00' WHERE id='run-old'")
    assert [r["id"] for r in runs.list_runs(ws)] == ["run-a", "run-b", "run-old"]
    assert [r["id"] for r in runs.list_runs(ws, status="succeeded")] == ["run-a", "run-old"]


def test_status_follows_the_job_writing_the_run_until_its_model_is_recorded(ws):
    run = _run(ws, "r")
    assert runs.run_status(ws, "r") == "queued"  # no job has claimed it yet
    assert runs.run_status(ws, "nope") is None
    job = start_job(ws, "sleep", {"steps": 1}, run_id="r", spawn=False)
    runs.attach_job(ws, "r", job)
    assert runs.run_status(ws, "r") == "queued" and runs.job_for_run(ws, "r")["id"] == job
    cancel_job(ws, job)
    assert runs.run_status(ws, "r") == "cancelled"

    again = start_job(ws, "sleep", {"steps": 1}, run_id="r", spawn=False)
    runs.claim_run(ws, "r", again)  # as the trainer does when it starts
    runs.attach_job(ws, "r", job)  # a late starter does not take the run back
    assert runs.job_for_run(ws, "r")["id"] == again
    with pytest.raises(runs.RunNotFound, match="no saved model"):
        runs.finish_run(ws, "r")  # nothing saved yet
    _saved_model(ws, "r")
    assert runs.finish_run(ws, "r", {"steps": 3}) == run.model
    assert runs.run_status(ws, "r") == "succeeded"  # while its job still runs (a final fit)
    assert runs.get_run(ws, "r")["model_path"] == "runs/r/model"
    assert run.metrics.is_file() and runs.model_dir(ws, "r") == run.model.resolve()
    finish_job(ws, again, "succeeded")

    runs.claim_run(ws, "r", again)  # rewriting the model: it is no longer recorded
    with pytest.raises(runs.RunNotFound, match="status failed"):
        runs.model_dir(ws, "r")  # job succeeded, model unrecorded: nothing to use


def test_the_model_of_a_run(ws):
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    with pytest.raises(runs.RunNotFound, match="no run 'x'"):
        runs.model_dir(ws, "x")
    _run(ws, "a")
    with pytest.raises(runs.RunNotFound, match="no saved model"):
        runs.model_location(ws, "run:a")
    _saved_model(ws, "a")
    runs.finish_run(ws, "a")
    assert runs.model_location(ws, "run:a") == str(runs.folder(ws, "a").model.resolve())
    assert runs.model_location(ws, DEFAULT_BASE_MODEL) == resolve_model(DEFAULT_BASE_MODEL)
    _run(ws, "a-all", final_of="a")
    assert (runs.final_of(ws, "a-all"), runs.final_of(ws, "a"), runs.final_of(ws, "z")) == (
        "a",
        "",
        "",
    )


def test_migration_derives_old_statuses_from_jobs_and_models(tmp_path):
    """A v3 workspace kept statuses in runs.status; after v4 the same statuses are derived."""
    from core.store import Workspace

    ws = Workspace.create(tmp_path / "ws")
    ws.db_path.unlink()
    conn = sqlite3.connect(ws.db_path)
    for version in range(3):
        for statement in _split_sql(MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    jobs = [("j-ok", "succeeded", "ok"), ("j-bad", "failed", "bad"), ("j-old", "failed", "ok")]
    for i, (job_id, status, run_id) in enumerate(jobs):
        conn.execute(
            "INSERT INTO jobs (id, kind, status, params, run_id, created_at, heartbeat_at)"
            " VALUES (?, 'train', ?, '{}', ?, ?, 0)",
            (job_id, status, run_id, f"2026-01-0{3 - i}"),
        )
    for run_id, status in (("ok", "succeeded"), ("ok-all", "succeeded"), ("bad", "failed")):
        conn.execute(
            "INSERT INTO runs (id, created_at, base_model, loss, config, status, model_path)"
            " VALUES (?, 't', 'm', 'mnrl', '{}', ?, ?)",
            (run_id, status, f"runs/{run_id}/model"),
        )
    conn.commit()
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()
    for run_id in ("ok", "ok-all", "bad"):
        _saved_model(ws, run_id)  # a failed run may have left a model folder: not its model
    got = {r["id"]: (r["status"], r["job_id"]) for r in runs.list_runs(ws)}
    assert got == {
        "ok": ("succeeded", "j-ok"),
        "ok-all": ("succeeded", "j-ok"),
        "bad": ("failed", "j-bad"),
    }
