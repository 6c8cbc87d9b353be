"""Background jobs: long work runs in its own OS process, its state lives in the database.

`start_job` records a job and spawns `python -m core.jobs WORKSPACE JOB_ID`. The worker marks
itself running, beats a heartbeat, reports progress through `JobContext.progress`, and ends as
succeeded, failed or cancelled. A page reload, another tab or the CLI all read the same rows.
Cancel sends SIGTERM: the handler sets a flag and the job stops at its next progress call
(training saves a checkpoint first); a job asked to stop ends cancelled even when it stops
through an error, and a job cancelled while queued never starts. A worker that dies without a
word is found by `refresh_stale` (dead pid or a heartbeat older than `STALE_AFTER_S`) and
marked failed with the last lines of its log.

Handlers are registered by import path in `HANDLERS` so that listing jobs never imports torch.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.store import Workspace, now_iso

HEARTBEAT_S = 2.0  # seconds between heartbeats
STALE_AFTER_S = 20.0  # a running job silent this long is declared dead
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")

# kind -> "module:function" taking a JobContext and returning a JSON-able result dict.
HANDLERS: dict[str, str] = {
    "sleep": "core.jobs:sleep_job",  # a tiny job for tests and for checking the machinery
}


def register_handler(kind: str, target: str) -> None:
    """Register a job kind (`target` is "module:function")."""
    HANDLERS[kind] = target


# Engine modules register their job kinds when imported; listed here so a worker finds them.
# Each is part of the product: a missing or renamed one is an import error, not job kinds that
# quietly become "unknown".
HANDLER_MODULES = (
    "core.generation.jobs",
    "core.mining",
    "core.training.jobs",
    "core.evaluation.jobs",
    "core.export.jobs",
    "core.auto",
)


def _load_handlers_from_modules() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)


class JobError(Exception):
    """A job cannot be started, cancelled or resumed (the message says why)."""


class JobCancelled(Exception):
    """Raised inside a job at a progress call after cancellation was requested."""


@dataclass
class JobContext:
    """What a job handler gets: where to write, how to report, whether to stop."""

    ws: Workspace
    job_id: str
    kind: str
    params: dict[str, Any]
    run_id: str | None
    folder: Path
    log: logging.Logger
    _cancel: threading.Event = field(default_factory=threading.Event)
    _last_write: float = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        """Report `step` of `total` units done; raises JobCancelled if a cancel was requested.

        Database writes are throttled to two per second unless `force` or the last step.
        """
        now = time.monotonic()
        if force or step >= total or now - self._last_write >= 0.5:
            self._last_write = now
            frac = 0.0 if total <= 0 else min(1.0, step / total)
            with self.ws.connect() as conn:
                conn.execute(
                    "UPDATE jobs SET step = ?, total = ?, progress = ?, message = ?,"
                    " heartbeat_at = ? WHERE id = ?",
                    (step, total, frac, message, time.time(), self.job_id),
                )
        self.check_cancelled()


def job_folder(ws: Workspace, job_id: str, run_id: str | None) -> Path:
    """Where a job writes job-<id>.json and log.txt: its run folder, or jobs/<id>/."""
    return ws.run_dir(run_id) if run_id else ws.job_dir(job_id)


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def start_job(
    ws: Workspace,
    kind: str,
    params: dict[str, Any],
    run_id: str | None = None,
    spawn: bool = True,
) -> str:
    """Record a job and start its worker process; returns the job id.

    Refused when another active job writes the same run. `spawn=False` only records it
    (tests and the CLI's in-process mode call `run_worker` themselves).
    """
    if kind not in HANDLERS:
        _load_handlers_from_modules()
    if kind not in HANDLERS:
        raise JobError(f"unknown job kind {kind!r}")
    job_id = new_id(kind)
    folder = job_folder(ws, job_id, run_id)
    if run_id is not None:
        refresh_stale(ws)  # a dead worker must not block its run (it still reads "running")
    with ws.transaction() as conn:
        if run_id is not None:
            busy = conn.execute(
                "SELECT id FROM jobs WHERE run_id = ? AND status IN ('queued', 'running')",
                (run_id,),
            ).fetchone()
            if busy is not None:
                raise JobError(f"run {run_id} is already being written by job {busy['id']}")
        conn.execute(
            "INSERT INTO jobs (id, kind, status, params, run_id, created_at, heartbeat_at)"
            " VALUES (?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, kind, json.dumps(params), run_id, now_iso(), time.time()),
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"job-{job_id}.json").write_text(
            json.dumps({"id": job_id, "kind": kind, "run_id": run_id, "params": params}, indent=2)
        )
    except OSError as exc:
        finish_job(ws, job_id, "failed", error=f"cannot write the job folder {folder}: {exc}")
        raise JobError(f"cannot write the job folder {folder}: {exc.strerror}") from exc
    if spawn:
        log_path = folder / "log.txt"
        with log_path.open("a") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "core.jobs", str(ws.root), job_id],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the Streamlit server being restarted
                cwd=str(Path(__file__).resolve().parent.parent),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        with ws.connect() as conn:
            conn.execute("UPDATE jobs SET pid = ? WHERE id = ? AND pid IS NULL", (proc.pid, job_id))
        _reap_later(proc)
    return job_id


def _reap_later(proc: subprocess.Popen) -> None:
    # Wait on the child in a daemon thread so a long-lived parent (Streamlit) leaves no zombies.
    threading.Thread(target=proc.wait, daemon=True).start()


def get_job(ws: Workspace, job_id: str) -> dict[str, Any]:
    with ws.connect() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobError(f"no job {job_id}")
    return _row_to_dict(row)


def _row_to_dict(row) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(out["params"] or "{}")
    out["result"] = json.loads(out["result"]) if out.get("result") else None
    return out


def list_jobs(
    ws: Workspace, kind: str | None = None, active_only: bool = False
) -> list[dict[str, Any]]:
    """Jobs newest first, after marking dead workers failed."""
    refresh_stale(ws)
    sql, args = "SELECT * FROM jobs", []
    where = []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if active_only:
        where.append("status IN ('queued', 'running')")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, rowid DESC"
    with ws.connect() as conn:
        return [_row_to_dict(r) for r in conn.execute(sql, args).fetchall()]


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid runs and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def refresh_stale(ws: Workspace, stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Mark failed every active job whose worker died or stopped beating; return their ids."""
    now = time.time()
    dead: list[str] = []
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT id, status, pid, heartbeat_at, run_id FROM jobs"
            " WHERE status IN ('queued', 'running')"
        ).fetchall()
    for row in rows:
        silent = now - (row["heartbeat_at"] or 0) > stale_after_s
        gone = row["pid"] is not None and not pid_alive(row["pid"])
        if gone or silent:
            # Re-read: the worker may have finished between the two queries.
            if get_job(ws, row["id"])["status"] not in ACTIVE:
                continue
            tail = log_tail(ws, row["id"], 15)
            why = "the worker process died" if gone else "the worker stopped responding"
            finish_job(ws, row["id"], "failed", error=f"{why}; last log lines:\n{tail}")
            dead.append(row["id"])
    return dead


def log_path(ws: Workspace, job_id: str) -> Path:
    job = get_job(ws, job_id)
    return job_folder(ws, job_id, job["run_id"]) / "log.txt"


def log_tail(ws: Workspace, job_id: str, lines: int = 20) -> str:
    return file_tail(log_path(ws, job_id), lines)


def file_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ("" when it does not exist)."""
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def cancel_job(ws: Workspace, job_id: str) -> str:
    """Ask a job to stop: SIGTERM to a running worker, or cancel a queued one. Returns status."""
    job = get_job(ws, job_id)
    if job["status"] in FINISHED:
        return job["status"]
    if job["status"] == "queued":
        # The worker has not installed its SIGTERM handler yet: record the cancel first so
        # that the worker (or its abrupt end) leaves the job cancelled, not failed.
        finish_job(ws, job_id, "cancelled", error="cancelled before it started")
        if job["pid"] and pid_alive(job["pid"]):
            os.kill(job["pid"], signal.SIGTERM)
        return "cancelled"
    if job["pid"] and pid_alive(job["pid"]):
        os.kill(job["pid"], signal.SIGTERM)
        with ws.connect() as conn:
            conn.execute("UPDATE jobs SET message = 'cancelling…' WHERE id = ?", (job_id,))
        return "cancelling"
    finish_job(ws, job_id, "cancelled", error="cancelled before it started")
    return "cancelled"


def resume_job(
    ws: Workspace, job_id: str, spawn: bool = True, overrides: dict[str, Any] | None = None
) -> str:
    """Start a new job with the same kind, params and run, flagged `resume`; returns its id.

    `overrides` replaces top-level params (e.g. a training config on another device count).
    """
    refresh_stale(ws)  # resuming right after a crash: the dead worker is found first
    job = get_job(ws, job_id)
    if job["status"] in ACTIVE:
        raise JobError(f"job {job_id} is still {job['status']}")
    if job["status"] == "succeeded":
        raise JobError(f"job {job_id} already succeeded; nothing to resume")
    params = {**job["params"], **(overrides or {}), "resume": True}
    return start_job(ws, job["kind"], params, run_id=job["run_id"], spawn=spawn)


def wait_job(
    ws: Workspace,
    job_id: str,
    poll_s: float = 1.0,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Block until the job finishes; returns its final row."""
    while True:
        refresh_stale(ws)
        job = get_job(ws, job_id)
        if on_update:
            on_update(job)
        if job["status"] in FINISHED:
            return job
        time.sleep(poll_s)


def finish_job(
    ws: Workspace,
    job_id: str,
    status: str,
    result: dict | None = None,
    error: str | None = None,
) -> None:
    """Record a queued or running job's end (status, result or error); a job already ended
    keeps its first end. Also what a job run inside another job (the pipeline's geometry)
    is recorded with."""
    with ws.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ?,"
            " progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END"
            " WHERE id = ? AND status IN ('queued', 'running')",
            (
                status,
                json.dumps(result) if result is not None else None,
                error,
                now_iso(),
                status,
                job_id,
            ),
        )


def _resolve(kind: str) -> Callable[[JobContext], dict[str, Any]]:
    if kind not in HANDLERS:
        _load_handlers_from_modules()
    module, _, func = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), func)


def run_worker(ws: Workspace, job_id: str) -> str:
    """Run a recorded job in this process (the body of the worker); returns its final status."""
    job = get_job(ws, job_id)
    if job["status"] != "queued":
        return job["status"]
    folder = job_folder(ws, job_id, job["run_id"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(folder / "log.txt")
    except OSError as exc:
        # Without a folder there is no log: the reason goes to the job row instead.
        finish_job(ws, job_id, "failed", error=f"cannot write the job folder {folder}: {exc}")
        return "failed"
    logger = logging.getLogger(f"embstudio.job.{job_id}")
    logger.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    ctx = JobContext(ws, job_id, job["kind"], job["params"], job["run_id"], folder, logger)

    def on_sigterm(signum, frame):
        ctx._cancel.set()

    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)
    with ws.connect() as conn:
        # Only a job still queued starts: a cancel recorded since the read above stands.
        started = conn.execute(
            "UPDATE jobs SET status = 'running', pid = ?, started_at = ?, heartbeat_at = ?"
            " WHERE id = ? AND status = 'queued'",
            (os.getpid(), now_iso(), time.time(), job_id),
        ).rowcount
    if not started:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        logger.removeHandler(handler)
        handler.close()
        return get_job(ws, job_id)["status"]
    stop_beat = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ws, job_id, stop_beat), daemon=True)
    beat.start()
    logger.info("job %s (%s) started, pid %s", job_id, job["kind"], os.getpid())
    try:
        result = _resolve(job["kind"])(ctx)
    except JobCancelled:
        logger.info("job cancelled")
        finish_job(ws, job_id, "cancelled", error="cancelled by the user")
    except BaseException as exc:
        if ctx.cancelled:
            # Asked to stop, it stopped: through a JobCancelled that a library wrapped in its
            # own error, or failing on the way out. The user's cancel is what ended it.
            logger.info("job cancelled; it stopped with %s\n%s", exc, traceback.format_exc())
            finish_job(ws, job_id, "cancelled", error="cancelled by the user")
        else:
            logger.error("job failed: %s\n%s", exc, traceback.format_exc())
            finish_job(ws, job_id, "failed", error=f"{exc.__class__.__name__}: {exc}")
    else:
        if ctx.cancelled:
            finish_job(ws, job_id, "cancelled", result=result, error="cancelled by the user")
        else:
            logger.info("job succeeded")
            finish_job(ws, job_id, "succeeded", result=result or {})
    finally:
        stop_beat.set()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        logger.removeHandler(handler)
        handler.close()
    return get_job(ws, job_id)["status"]


def _heartbeat(ws: Workspace, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            with ws.connect() as conn:
                conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (time.time(), job_id))
        except Exception:
            pass


def sleep_job(ctx: JobContext) -> dict[str, Any]:
    """A job that counts `steps` steps of `seconds` each (params); for tests and smoke checks."""
    steps = int(ctx.params.get("steps", 10))
    for i in range(steps):
        time.sleep(float(ctx.params.get("seconds", 0.2)))
        ctx.progress(i + 1, steps, f"step {i + 1}/{steps}")
    return {"steps": steps}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m core.jobs WORKSPACE JOB_ID", file=sys.stderr)
        return 2
    # Run through the imported module, not __main__, so handlers registered by engine modules
    # (which import core.jobs) land in the same HANDLERS dict the worker reads.
    from core import jobs

    status = jobs.run_worker(Workspace.open(args[0]), args[1])
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
