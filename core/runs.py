"""A training run: its `runs` row, its folder, its status and its model (docs/ARCHITECTURE.md,
"Training").

Folder `runs/<RUN>/` (`RunFolder`): config.json (its settings, a TrainConfig or a merge's),
progress.jsonl (one JSON line per logged step and per evaluation), checkpoints/, model/ (a
sentence-transformers folder with its README.md card) and metrics.json; core/jobs adds log.txt
and job-<ID>.json.

Status is derived, never copied: a run has "succeeded" once its model is recorded (`finish_run`
sets `model_path` and model/modules.json exists); until then it has the status of the job that
writes it (`runs.job_id`, set by `claim_run`: queued, running, failed or cancelled), "failed"
when that job succeeded but the model is gone, and "queued" before any job claimed it.
A final fit is written by its split run's job, which claims both runs in turn.

"The model of a run" is `model_dir(ws, run_id)`; `model_location(ws, name)` also takes a model
name or 'run:<RUN>' (a base model that is a finished run).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.jobs import JobError, get_job, refresh_stale
from core.store import Workspace, now_iso

SUCCEEDED = "succeeded"
RUN_PREFIX = "run:"  # a model name 'run:<RUN>' means that run's model


class RunNotFound(ValueError):
    """The run does not exist or has no saved model (the message says which)."""


@dataclass(frozen=True)
class RunFolder:
    """The files of one run under `runs/<RUN>/`."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def progress(self) -> Path:
        return self.root / "progress.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def retrieval(self) -> Path:
        """The retrieval recipe the run recommends (core.retrieval.recipe)."""
        return self.root / "retrieval.json"

    @property
    def logs(self) -> Path:
        """The files of the run's last launch on several devices (core.training.distributed):
        launch.json, rank-R.txt and rank-R.pid per rank, cancel, result.json."""
        return self.root / "logs"

    @property
    def launch_file(self) -> Path:
        """What every rank trains (the supervisor writes it, each rank reads it)."""
        return self.logs / "launch.json"

    @property
    def result_file(self) -> Path:
        """Rank 0's outcome, read by the supervisor."""
        return self.logs / "result.json"

    @property
    def cancel_file(self) -> Path:
        """The supervisor's word to rank 0 that the job is cancelled."""
        return self.logs / "cancel"

    def rank_log(self, rank: int) -> Path:
        """The log of one rank."""
        return self.logs / f"rank-{rank}.txt"

    def rank_pid(self, rank: int) -> Path:
        return self.logs / f"rank-{rank}.pid"


def folder(ws: Workspace, run_id: str) -> RunFolder:
    return RunFolder(ws.run_dir(run_id))


# ---------------------------------------------------------------------------- writing a run
def record_run(
    ws: Workspace, run_id: str, config: dict[str, Any], replace: bool = False
) -> RunFolder:
    """Create the run (row and folder) or update its settings; writes config.json.

    `config` is the run's settings as a dict (base_model and loss are read from it).
    replace: start the run afresh (a new row, created now), as a re-made merge does.
    """
    run = folder(ws, run_id)
    run.root.mkdir(parents=True, exist_ok=True)
    run.config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    values = (run_id, now_iso(), str(config["base_model"]), str(config["loss"]), _dump(config))
    with ws.transaction() as conn:
        if replace:
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        conn.execute(
            "INSERT INTO runs (id, created_at, base_model, loss, config) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET base_model = excluded.base_model,"
            " loss = excluded.loss, config = excluded.config",
            values,
        )
    return run


def claim_run(ws: Workspace, run_id: str, job_id: str | None) -> None:
    """Job `job_id` (None: no job, e.g. a test) starts (re)writing the run: its status follows
    that job and its model is unrecorded until `finish_run`."""
    with ws.connect() as conn:
        conn.execute("UPDATE runs SET job_id = ?, model_path = NULL WHERE id = ?", (job_id, run_id))


def attach_job(ws: Workspace, run_id: str, job_id: str) -> None:
    """Name the job started for a new run, unless its worker already claimed it (a worker may
    start before its starter returns)."""
    with ws.connect() as conn:
        conn.execute("UPDATE runs SET job_id = ? WHERE id = ? AND job_id IS NULL", (job_id, run_id))


def finish_run(ws: Workspace, run_id: str, metrics: dict[str, Any] | None = None) -> Path:
    """Record the run's saved model folder (and its metrics in metrics.json and the row): the
    run has succeeded. Returns the model folder."""
    run = folder(ws, run_id)
    if not (run.model / "modules.json").is_file():
        raise RunNotFound(f"run {run_id} has no saved model at {run.model}")
    if metrics is not None:
        run.metrics.write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    rel = os.path.relpath(run.model, ws.root)
    with ws.connect() as conn:
        conn.execute(
            "UPDATE runs SET model_path = ?, metrics = ? WHERE id = ?",
            (rel, _dump(metrics or {}), run_id),
        )
    return run.model


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, default=str)


# ---------------------------------------------------------------------------- deleted data
DELETED_MARK = "trained_on_deleted"  # key in a run row's config: documents deleted since


def runs_created_since(conn: sqlite3.Connection, since: str) -> list[str]:
    """Ids of the runs recorded at or after `since` (ISO time), oldest first."""
    rows = conn.execute(
        "SELECT id FROM runs WHERE created_at >= ? ORDER BY created_at, rowid", (since,)
    ).fetchall()
    return [str(r["id"]) for r in rows]


def mark_trained_on_deleted(
    conn: sqlite3.Connection, run_ids: list[str], document: dict[str, Any]
) -> None:
    """Note in each run's row (config, key DELETED_MARK) that it trained while `document`
    ({id, name, deleted_at}) was in the workspace, which has since deleted it. The caller's
    transaction holds the write; config.json in the run folder is left as the run wrote it."""
    for run_id in run_ids:
        row = conn.execute("SELECT config FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            continue
        try:
            config = json.loads(row["config"] or "{}")
        except ValueError:
            config = {}
        config[DELETED_MARK] = [*config.get(DELETED_MARK, []), document]
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (_dump(config), run_id))


def trained_on_deleted(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The deleted documents a run (a row of `list_runs`/`get_run`) trained with ([] if none)."""
    try:
        config = json.loads(run.get("config") or "{}")
    except (TypeError, ValueError):
        return []
    return list(config.get(DELETED_MARK) or [])


# ---------------------------------------------------------------------------- reading runs
def list_runs(ws: Workspace, status: str | None = None) -> list[dict[str, Any]]:
    """Runs as row dicts with their derived `status`, newest first; `status` keeps only runs
    in that state. Dead workers are found first, so no run shows as running for ever.

    Runs started within the same second share `created_at`; the insertion order (rowid)
    breaks the tie so that every page lists them in the same stable order.
    """
    refresh_stale(ws)
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT runs.*, jobs.status AS job_status FROM runs"
            " LEFT JOIN jobs ON jobs.id = runs.job_id"
            " ORDER BY runs.created_at DESC, runs.rowid DESC"
        ).fetchall()
    out = [_with_status(ws, dict(r)) for r in rows]
    return [r for r in out if status is None or r["status"] == status]


def get_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """One run's row with its derived `status`, or None when there is no such run."""
    refresh_stale(ws)
    with ws.connect() as conn:
        row = conn.execute(
            "SELECT runs.*, jobs.status AS job_status FROM runs"
            " LEFT JOIN jobs ON jobs.id = runs.job_id WHERE runs.id = ?",
            (run_id,),
        ).fetchone()
    return None if row is None else _with_status(ws, dict(row))


def run_status(ws: Workspace, run_id: str) -> str | None:
    """The run's status (see the module docstring), or None when there is no such run."""
    run = get_run(ws, run_id)
    return None if run is None else run["status"]


def _with_status(ws: Workspace, row: dict[str, Any]) -> dict[str, Any]:
    job_status = row.pop("job_status", None)
    if row["model_path"] and (ws.root / row["model_path"] / "modules.json").is_file():
        row["status"] = SUCCEEDED
    elif job_status == SUCCEEDED:
        row["status"] = "failed"  # its job finished, yet no model is there (any more)
    else:
        row["status"] = job_status or "queued"
    return row


def job_for_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The job writing (or that last wrote) the run, or None (a merge, a run made by hand)."""
    run = get_run(ws, run_id)
    if not run or not run.get("job_id"):
        return None
    try:
        return get_job(ws, run["job_id"])
    except JobError:  # its job's row was removed
        return None


def model_dir(ws: Workspace, run_id: str) -> Path:
    """The model folder of a succeeded run (RunNotFound when there is none)."""
    run = get_run(ws, run_id)
    if run is None:
        raise RunNotFound(f"no run {run_id!r} in this workspace")
    if run["status"] != SUCCEEDED:
        rel = run["model_path"] or os.path.relpath(folder(ws, run_id).model, ws.root)
        raise RunNotFound(f"run {run_id} has no saved model at {rel} (status {run['status']})")
    return (ws.root / run["model_path"]).resolve()


def model_location(ws: Workspace, name: str) -> str:
    """A loadable model location: 'run:<RUN>' -> that run's model folder, else the model
    name resolved by core.models (packaged copies of known names, folders as they are)."""
    from core.models import resolve_model

    if name.startswith(RUN_PREFIX):
        return str(model_dir(ws, name[len(RUN_PREFIX) :].strip()))
    return resolve_model(name)


def read_config(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The run's config.json as a dict ({} when it has none)."""
    path = folder(ws, run_id).config
    return json.loads(path.read_text()) if path.is_file() else {}


def final_of(ws: Workspace, run_id: str) -> str:
    """The split run that run `run_id` is the final fit of ("" when it is none): read from the
    run's config.json, which a merge of a final fit inherits."""
    return str(read_config(ws, run_id).get("final_of") or "")


def read_progress(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of a run's progress.jsonl (train steps: type 'step'; evaluations: 'eval')."""
    path = RunFolder(Path(run_dir)).progress
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written right now
    return out


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None.

    The trainer writes trainer_state.json last, so a checkpoint without a readable one was cut
    short (a worker killed while saving) and is skipped: resuming from it would fail.
    """
    checkpoints = RunFolder(Path(run_dir)).checkpoints
    if not checkpoints.is_dir():
        return None
    found = []
    for path in checkpoints.glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[1]
        if path.is_dir() and step.isdigit():
            found.append((int(step), path))
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return path
    return None
