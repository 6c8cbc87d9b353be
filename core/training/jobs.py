"""Job kind "train": params {"config": TrainConfig dict, "resume": bool}; the run id is the
job's run_id, so the run folder is runs/<RUN>/ and the run's status follows this job
(core/runs.py).

After a split run succeeds, the same job trains its final fit (DESIGN.md section 5, "Held-out
documents vs the shipped model"): run `<RUN>-all`, the same resolved settings on the curated
pairs of every split, no validation, `final_of` naming the split run whose figures it carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from core import runs
from core.jobs import JobCancelled, JobContext, new_id, register_handler, start_job
from core.store import Workspace
from core.training.config import TrainConfig

register_handler("train", "core.training.jobs:train_job")


FINAL_SUFFIX = "-all"  # the final fit of run R is run R-all


def final_run_id(run_id: str) -> str:
    """The id of the final fit (every split) that a split run ships as."""
    return f"{run_id}{FINAL_SUFFIX}"


def train_job(ctx: JobContext) -> dict[str, Any]:
    from core.training.trainer import train_run

    config = TrainConfig.from_dict(ctx.params.get("config", {}))
    run_id = ctx.run_id or ctx.job_id
    resume = bool(ctx.params.get("resume"))
    result = _guarded(ctx, run_id, lambda: train_run(ctx.ws, config, run_id, ctx, resume=resume))
    out = {"run_id": run_id, "model_path": result["model_path"], "metrics": result["metrics"]}
    final = final_fit_config(ctx.ws, run_id)
    if final is not None:
        final_id = final_run_id(run_id)
        ctx.progress(0, 1, "final fit: the same settings on every document's pairs", force=True)
        fitted = _guarded(
            ctx, final_id, lambda: train_run(ctx.ws, final, final_id, ctx, resume=resume)
        )
        out.update(final_run_id=final_id, final_model_path=fitted["model_path"])
        out["final_metrics"] = fitted["metrics"]
    return out


def final_fit_config(ws: Workspace, run_id: str) -> TrainConfig | None:
    """The config of run `run_id`'s final fit (its resolved settings, trained on every split,
    no validation), or None when it asks for none or every curated pair was trained on."""
    from core.training.data import ALL_SPLITS, held_out_pair_count

    config = TrainConfig.from_json(runs.folder(ws, run_id).config)
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
    """Run `work` for `run_id`; a cancelled training ends the job as cancelled."""
    from core.training.trainer import TrainingCancelled

    try:
        return work()
    except TrainingCancelled as exc:
        ctx.log.info("%s", exc)
        raise JobCancelled() from exc


def start_training(ws: Workspace, config: TrainConfig, spawn: bool = True) -> tuple[str, str]:
    """Validate, record the run and start its job; returns (run_id, job_id)."""
    config.validate()
    run_id = new_id("run")
    runs.record_run(ws, run_id, config.to_dict())
    job_id = start_job(ws, "train", {"config": config.to_dict()}, run_id=run_id, spawn=spawn)
    runs.attach_job(ws, run_id, job_id)
    return run_id, job_id
