"""Job kind "train": params {"config": TrainConfig dict, "resume": bool}; the run id is the
job's run_id, so the run folder is runs/<RUN>/ and the run's status follows this job
(core/runs.py).

After a split run succeeds, the same job trains its final fit (docs/ARCHITECTURE.md,
"Training"): run `<RUN>-all`, the same resolved settings, no validation, `final_of` naming the
split run whose figures it carries. By default it continues the split run's model on the
curated pairs the split run held out (a third of the steps of training the base model again on
every split, within 0.005 nDCG@10 on real questions: README, "Measured results");
`final_fit_from` 'base' trains again from the base model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core import runs
from core.jobs import JobCancelled, JobContext, new_id, register_handler, start_job
from core.store import Workspace
from core.training.config import TrainConfig

if TYPE_CHECKING:
    from core.training.trainer import Reporter

register_handler("train", "core.training.jobs:train_job")


FINAL_SUFFIX = "-all"  # the final fit of run R is run R-all


def final_run_id(run_id: str) -> str:
    """The id of the final fit (every split) that a split run ships as."""
    return f"{run_id}{FINAL_SUFFIX}"


def train_job(ctx: JobContext) -> dict[str, Any]:
    config = TrainConfig.from_dict(ctx.params.get("config", {}))
    run_id = ctx.run_id or ctx.job_id
    resume = bool(ctx.params.get("resume"))
    return train_with_final_fit(ctx, ctx.log, ctx.ws, config, run_id, resume=resume)


def train_with_final_fit(
    reporter: Reporter,
    log: logging.Logger,
    ws: Workspace,
    config: TrainConfig,
    run_id: str,
    resume: bool = False,
    on_fit: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train run `run_id`, then its final fit `<RUN>-all` when it asks for one; the body of
    a "train" job, also a stage of the one-click pipeline (core/auto.py). `reporter` is the
    job's context (progress, cancel flag); `on_fit(index, count)` is told before each fit
    starts (0 of 2 for the split run when a final fit follows). A cancel raises JobCancelled
    (the stopped run's status follows its job); `resume` skips a run that already finished
    and continues the other from its checkpoint."""
    # DDP hook: on several devices the worker supervises torchrun (core/training/distributed.py)
    from core.training.distributed import train_on_devices

    def fit(cfg: TrainConfig, rid: str) -> dict[str, Any]:
        if resume and (done := finished_run(ws, rid)) is not None:
            log.info("run %s finished before: not trained again", rid)
            return done
        return _guarded(log, lambda: train_on_devices(reporter, ws, cfg, rid, resume))

    if on_fit:
        on_fit(0, 2 if wants_final_fit(ws, config) else 1)
    result = fit(config, run_id)
    out = {"run_id": run_id, "model_path": result["model_path"], "metrics": result["metrics"]}
    final = final_fit_config(ws, run_id)
    if final is not None:
        final_id = final_run_id(run_id)
        if on_fit:
            on_fit(1, 2)
        reporter.progress(0, 1, final_fit_line(final), True)
        fitted = fit(final, final_id)
        out.update(final_run_id=final_id, final_model_path=fitted["model_path"])
        out["final_metrics"] = fitted["metrics"]
    return out


def final_fit_line(final: TrainConfig) -> str:
    """The progress line that starts a final fit, saying what it trains on."""
    if final.init_from:
        return "final fit: the split run's model, continued on the pairs it held out"
    return "final fit: the same settings on every document's pairs"


def wants_final_fit(ws: Workspace, config: TrainConfig) -> bool:
    """Whether a run with `config` is followed by a final fit: it asks for one, is none itself,
    and some curated pairs lie outside its training split."""
    from core.training.data import held_out_pair_count

    return bool(
        config.final_fit and not config.final_of and held_out_pair_count(ws, config.train_split)
    )


def final_fit_config(ws: Workspace, run_id: str) -> TrainConfig | None:
    """The config of run `run_id`'s final fit (its resolved settings, no validation): the split
    run's model trained on the pairs it held out (`final_fit_from` 'split_run'), or the base
    model on every split ('base'); None when it asks for none or every curated pair was
    trained on."""
    from core.training.data import ALL_SPLITS, held_out_of

    config = TrainConfig.from_json(runs.folder(ws, run_id).config)
    if not wants_final_fit(ws, config):
        return None
    final = dataclasses.replace(
        config, validate_every_epoch=False, final_fit=False, final_of=run_id
    )
    if config.final_fit_from == "split_run":
        return dataclasses.replace(
            final, train_split=held_out_of(config.train_split), init_from=run_id
        )
    return dataclasses.replace(final, train_split=ALL_SPLITS)


def finished_run(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """{run_id, model_path, metrics} of a run that succeeded and kept its model, else None."""
    run = runs.get_run(ws, run_id)
    if run is None or run["status"] != runs.SUCCEEDED:
        return None
    metrics = runs.folder(ws, run_id).metrics
    return {
        "run_id": run_id,
        "model_path": str(runs.model_dir(ws, run_id)),
        "metrics": json.loads(metrics.read_text()) if metrics.is_file() else {},
    }


def _guarded(log: logging.Logger, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work`; a cancelled training ends the job as cancelled."""
    from core.training.trainer import TrainingCancelled

    try:
        return work()
    except TrainingCancelled as exc:
        log.info("%s", exc)
        raise JobCancelled() from exc


def prepare_run(ws: Workspace, config: TrainConfig) -> str:
    """Validate `config` and record a new run (row, folder, config.json); returns its id."""
    from core.training.distributed import check_records

    config.validate()
    check_records(ws, config)  # DDP hook: every device needs a full batch per step
    run_id = new_id("run")
    runs.record_run(ws, run_id, config.to_dict())
    return run_id


def start_training(ws: Workspace, config: TrainConfig, spawn: bool = True) -> tuple[str, str]:
    """Validate, record the run and start its job; returns (run_id, job_id)."""
    run_id = prepare_run(ws, config)
    job_id = start_job(ws, "train", {"config": config.to_dict()}, run_id=run_id, spawn=spawn)
    runs.attach_job(ws, run_id, job_id)
    return run_id, job_id
