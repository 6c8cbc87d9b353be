"""Job kind "train": params {"config": TrainConfig dict, "resume": bool}; the run id is the
job's run_id, so the run folder is runs/<RUN>/ and the `runs` row mirrors the job status."""

from __future__ import annotations

from typing import Any

from core.jobs import JobCancelled, JobContext, new_id, register_handler, start_job
from core.store import Workspace
from core.training.config import TrainConfig

register_handler("train", "core.training.jobs:train_job")


def train_job(ctx: JobContext) -> dict[str, Any]:
    from core.training.trainer import TrainingCancelled, set_run_status, train_run

    config = TrainConfig.from_dict(ctx.params.get("config", {}))
    run_id = ctx.run_id or ctx.job_id
    try:
        result = train_run(ctx.ws, config, run_id, ctx, resume=bool(ctx.params.get("resume")))
    except (TrainingCancelled, JobCancelled) as exc:
        set_run_status(ctx.ws, run_id, "cancelled")
        ctx.log.info("%s", exc)
        raise JobCancelled() from exc
    except BaseException:
        set_run_status(ctx.ws, run_id, "failed")
        raise
    return {"run_id": run_id, "model_path": result["model_path"], "metrics": result["metrics"]}


def start_training(ws: Workspace, config: TrainConfig, spawn: bool = True) -> tuple[str, str]:
    """Validate, record the run and start its job; returns (run_id, job_id)."""
    from core.training.trainer import _set_run_row

    config.validate()
    run_id = new_id("run")
    _set_run_row(ws, run_id, config, status="queued")
    ws.run_dir(run_id).mkdir(parents=True, exist_ok=True)
    config.to_json(ws.run_dir(run_id) / "config.json")
    job_id = start_job(ws, "train", {"config": config.to_dict()}, run_id=run_id, spawn=spawn)
    return run_id, job_id


def job_for_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The newest job writing `run_id`, or None."""
    from core.jobs import list_jobs

    for job in list_jobs(ws, kind="train"):
        if job["run_id"] == run_id:
            return job
    return None


def sync_run_statuses(ws: Workspace) -> None:
    """Runs whose job ended without the worker saying so (killed, found dead by
    refresh_stale) take their job's final status, so the runs table never shows a ghost."""
    from core.jobs import FINISHED, list_jobs
    from core.training.trainer import set_run_status

    with ws.connect() as conn:
        open_runs = {
            r["id"]
            for r in conn.execute("SELECT id FROM runs WHERE status IN ('queued', 'running')")
        }
    if not open_runs:
        return
    seen: set[str] = set()
    for job in list_jobs(ws, kind="train"):  # newest first: the run's current job
        run_id = job["run_id"]
        if run_id in open_runs and run_id not in seen:
            seen.add(run_id)
            if job["status"] in FINISHED:
                set_run_status(ws, run_id, job["status"])
