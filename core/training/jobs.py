"""Job kind "train": params {"config": TrainConfig dict, "resume": bool}; the run id is the
job's run_id, so the run folder is runs/<RUN>/ and the `runs` row mirrors the job status.

After a split run succeeds, the same job trains its final fit (DESIGN.md section 5, "Held-out
documents vs the shipped model"): run `<RUN>-all`, the same resolved settings on the curated
pairs of every split, no validation, `final_of` naming the split run whose figures it carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from core.jobs import JobCancelled, JobContext, new_id, register_handler, start_job
from core.store import Workspace
from core.training.config import TrainConfig

register_handler("train", "core.training.jobs:train_job")


FINAL_SUFFIX = "-all"  # the final fit of run R is run R-all


def final_run_id(run_id: str) -> str:
    """The id of the final fit (every split) that a split run ships as."""
    return f"{run_id}{FINAL_SUFFIX}"


def train_job(ctx: JobContext) -> dict[str, Any]:
    # DDP hook: on several devices the worker supervises torchrun (core/training/distributed.py)
    from core.training.distributed import train_on_devices

    config = TrainConfig.from_dict(ctx.params.get("config", {}))
    run_id = ctx.run_id or ctx.job_id
    resume = bool(ctx.params.get("resume"))
    result = _guarded(ctx, run_id, lambda: train_on_devices(ctx, config, run_id, resume=resume))
    out = {"run_id": run_id, "model_path": result["model_path"], "metrics": result["metrics"]}
    final = final_fit_config(ctx.ws, run_id)
    if final is not None:
        final_id = final_run_id(run_id)
        ctx.progress(0, 1, "final fit: the same settings on every document's pairs", force=True)
        fitted = _guarded(
            ctx, final_id, lambda: train_on_devices(ctx, final, final_id, resume=resume)
        )
        out.update(final_run_id=final_id, final_model_path=fitted["model_path"])
        out["final_metrics"] = fitted["metrics"]
    return out


def final_fit_config(ws: Workspace, run_id: str) -> TrainConfig | None:
    """The config of run `run_id`'s final fit (its resolved settings, trained on every split,
    no validation), or None when it asks for none or every curated pair was trained on."""
    from core.training.data import ALL_SPLITS, held_out_pair_count

    path = ws.run_dir(run_id) / "config.json"
    config = TrainConfig.from_json(path)
    if not config.final_fit or config.final_of or not held_out_pair_count(ws, config.train_split):
        return None
    return dataclasses.replace(
        config,
        train_split=ALL_SPLITS,
        validate_every_epoch=False,
        final_fit=False,
        final_of=run_id,
    )


def _guarded(ctx: JobContext, run_id: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` for `run_id`, leaving the run row cancelled or failed when it stops."""
    from core.training.trainer import TrainingCancelled, set_run_status

    try:
        return work()
    except (TrainingCancelled, JobCancelled) as exc:
        set_run_status(ctx.ws, run_id, "cancelled")
        ctx.log.info("%s", exc)
        raise JobCancelled() from exc
    except BaseException:
        set_run_status(ctx.ws, run_id, "failed")
        raise


def start_training(ws: Workspace, config: TrainConfig, spawn: bool = True) -> tuple[str, str]:
    """Validate, record the run and start its job; returns (run_id, job_id)."""
    from core.training.distributed import check_records
    from core.training.trainer import _set_run_row

    config.validate()
    check_records(ws, config)  # DDP hook: every device needs a full batch per step
    run_id = new_id("run")
    _set_run_row(ws, run_id, config, status="queued")
    ws.run_dir(run_id).mkdir(parents=True, exist_ok=True)
    config.to_json(ws.run_dir(run_id) / "config.json")
    job_id = start_job(ws, "train", {"config": config.to_dict()}, run_id=run_id, spawn=spawn)
    return run_id, job_id


def job_for_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The newest job writing `run_id` (a final fit's: its split run's job), or None."""
    from core.jobs import list_jobs

    for job in list_jobs(ws, kind="train"):
        if job["run_id"] and run_id in (job["run_id"], final_run_id(job["run_id"])):
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
        # A final fit runs inside its split run's job.
        for run_id in (job["run_id"], final_run_id(job["run_id"] or "")):
            if run_id in open_runs and run_id not in seen:
                seen.add(run_id)
                if job["status"] in FINISHED:
                    set_run_status(ws, run_id, job["status"])
