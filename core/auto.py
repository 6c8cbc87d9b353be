"""The one-click pipeline, job kind "auto": ingest → generate → accept → mine → train →
evaluate → geometry.

Each stage calls the engine function behind its own command at that command's defaults
(`embstudio ingest`, `generate`, `pairs --accept-all`, `mine`, `train` with its final fit,
`evaluate`), so one click gives what the commands give with no option. The evaluation: when
the workspace names a question set (Settings `questions_dir`, e.g. the demo's hand-written
questions), what `embstudio evaluate WS --run RUN-all --beir DIR [--group GROUP]` runs (the
final fit: those questions were never trained on); else `evaluate --run RUN`, the split run
on the held-out test split. Then the geometry of the base model and the evaluated run (the
Evaluate page's "Compute geometry", recorded as a finished "geometry" job), so the Evaluate
page is complete when the pipeline ends. Progress lines name the stage ("stage 4/7 mine: …")
with the stage's own step counts and an estimate of the time the stage has left; the job's
progress bar covers the whole pipeline.

Resume: `jobs/<PIPELINE>/pipeline.json` records each finished stage (its seconds and result)
and the training run once it is created. A resumed job (`core.jobs.resume_job`: same params)
skips the finished stages; the stage that stopped resumes as its own command would (generation
skips the chunks it already wrote, training continues from its checkpoint and skips a fit that
finished). Each attempt logs to its own job folder, like every job.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.jobs import JobContext, JobError, list_jobs, new_id, register_handler, start_job
from core.store import Workspace, now_iso

register_handler("auto", "core.auto:auto_job")

STAGES: tuple[str, ...] = (
    "ingest",
    "generate",
    "accept",
    "mine",
    "train",
    "evaluate",
    "geometry",
)
STATE_FILE = "pipeline.json"
_UNITS = 1000  # progress units per stage in the job row (the bar spans the whole pipeline)


class PipelineError(ValueError):
    """The pipeline cannot start or go on (the message says why and what to do)."""


def pipeline_dir(ws: Workspace, pipeline: str) -> Path:
    """The folder of a pipeline's state (`pipeline.json`), shared by all its attempts."""
    return ws.job_dir(pipeline)


def load_state(ws: Workspace, pipeline: str) -> dict[str, Any]:
    """The pipeline's recorded state: files, attempts (job ids), run_id, finished stages."""
    path = pipeline_dir(ws, pipeline) / STATE_FILE
    if not path.is_file():
        return {"pipeline": pipeline, "files": [], "attempts": [], "run_id": None, "stages": {}}
    return json.loads(path.read_text())


def _save_state(ws: Workspace, state: dict[str, Any]) -> None:
    folder = pipeline_dir(ws, state["pipeline"])
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{STATE_FILE}.part"
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, folder / STATE_FILE)  # a kill mid-write leaves the last whole state


def start_auto(ws: Workspace, files: Sequence[str | Path] = (), spawn: bool = True) -> str:
    """Start the one-click pipeline on `files` (ingested first; none = the workspace's own
    documents); returns the job id. Refused while another pipeline runs in the workspace."""
    paths = [str(Path(p).expanduser().resolve()) for p in files]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise PipelineError(f"no such file or folder: {missing[0]}")
    if not paths and ws.counts()["documents"] == 0:
        raise PipelineError("the workspace has no documents: name the files to ingest")
    active = list_jobs(ws, kind="auto", active_only=True)
    if active:
        raise JobError(f"the pipeline is already running (job {active[0]['id']})")
    params = {"pipeline": new_id("auto"), "files": paths}
    return start_job(ws, "auto", params, spawn=spawn)


def latest_auto_job(ws: Workspace) -> dict[str, Any] | None:
    """The newest "auto" job (any status), or None."""
    jobs = list_jobs(ws, kind="auto")
    return jobs[0] if jobs else None


def next_stage(ws: Workspace, job: dict[str, Any]) -> str | None:
    """The first stage the job's pipeline has not finished (None when all are done)."""
    done = load_state(ws, job["params"]["pipeline"])["stages"]
    return next((s for s in STAGES if s not in done), None)


# ----------------------------------------------------------------------------- progress


_TRAINER_ETA = re.compile(r",? ETA \d+[hms][\dms]*")  # core/training/trainer.py's "ETA 5m31s"


@dataclass
class StageProgress:
    """The reporter a stage's function (and the trainer) calls: turns the stage's own step
    counts into the job's line ("stage 5/6 train (fit 1 of 2): step 3/8 … · about 40s left
    in this stage") and the bar over the whole pipeline. Cancel works as for any job: the
    next progress call raises JobCancelled."""

    ctx: JobContext
    index: int  # 0-based position in STAGES
    fit: tuple[int, int] = (0, 1)  # (part, parts) of the stage running: the trainer's fits
    _first: tuple[float, float] | None = field(default=None, repr=False)  # (time, fraction)

    @property
    def name(self) -> str:
        return STAGES[self.index]

    @property
    def cancelled(self) -> bool:
        return self.ctx.cancelled

    @property
    def job_id(self) -> str | None:
        """The pipeline's job: the runs it trains follow its status (core/runs.py)."""
        return self.ctx.job_id

    def set_fit(self, part: int, parts: int) -> None:
        self.fit = (part, max(1, parts))

    def fraction(self, step: int, total: int) -> float:
        """How much of the stage is done, 0 to 1, over all its parts."""
        part, parts = self.fit
        within = min(1.0, step / total) if total > 0 else 0.0
        return (part + within) / parts

    def seconds_left(self, fraction: float, now: float) -> float | None:
        """Time the stage has left at the rate since it first moved (loading excluded)."""
        if self._first is None:
            if fraction > 0:
                self._first = (now, fraction)
            return None
        t0, f0 = self._first
        if fraction <= f0 or now - t0 < 1.0:
            return None
        return (1.0 - fraction) * (now - t0) / (fraction - f0)

    def line(self, message: str, left: float | None) -> str:
        from core.training.trainer import format_seconds

        text = f"stage {self.index + 1}/{len(STAGES)} {self.name}"
        if self.fit[1] > 1:
            text += f" (fit {self.fit[0] + 1} of {self.fit[1]})"
        estimate = left is not None and left >= 1
        if estimate:
            # One estimate per line: the stage's (over all its fits) replaces the trainer's
            # own ETA of the fit running.
            message = _TRAINER_ETA.sub("", message)
        if message:
            text += f": {message}"
        if estimate:
            text += f" · about {format_seconds(left)} left in this stage"
        return text

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        fraction = self.fraction(step, total)
        left = self.seconds_left(fraction, time.monotonic())
        overall = self.index * _UNITS + round(fraction * _UNITS)
        self.ctx.progress(overall, len(STAGES) * _UNITS, self.line(message, left), force=force)


# ----------------------------------------------------------------------------- stages


def evaluation_choice(ws: Workspace, run_id: str, final_run_id: str | None) -> dict[str, Any]:
    """The evaluate stage's params. With a question set in the workspace's Settings (and its
    folder there): those of `embstudio evaluate WS --run RUN-all --beir DIR [--group G]`,
    the final fit (else the split run) on questions no run was trained on. Without: those of
    `evaluate --run RUN`, the split run on the workspace's held-out test split."""
    from core.evaluation.runner import evaluation_params
    from core.settings import defaults_for

    d = defaults_for(ws)
    if d.questions_dir and Path(d.questions_dir).is_dir():
        return evaluation_params(
            [final_run_id or run_id],
            dataset="beir",
            beir_dir=d.questions_dir,
            group=d.questions_group,
        )
    return evaluation_params([run_id])


def stage_settings(ws: Workspace, run_id: str, final_run_id: str | None = None) -> dict[str, Any]:
    """What each stage runs with: what its command runs with no option (`ingest`,
    `generate`, `mine`, `train`, `evaluate`: see `evaluation_choice`), the workspace's
    Settings included, from the builders the commands use; `run_id` is the split run and
    `final_run_id` its final fit. geometry: the Evaluate page's "Compute geometry" params
    (the default sample and UMAP) of the base model and the evaluated run."""
    from core.chunking import ChunkingSettings
    from core.commands import generate_settings, mining_settings, train_config

    evaluate = evaluation_choice(ws, run_id, final_run_id)
    return {
        "ingest": ChunkingSettings(),
        "generate": generate_settings(ws),
        "mine": mining_settings(ws),
        "train": train_config(ws),
        "evaluate": evaluate,
        "geometry": {"runs": evaluate["runs"], "references": False, "projection": "umap"},
    }


StageFn = Callable[[Workspace, dict[str, Any], StageProgress, JobContext], dict[str, Any]]


def _ingest(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from core.ingest import ingest_paths
    from core.settings import defaults_for

    if not state["files"]:
        n = ws.counts()["documents"]
        stage.progress(1, 1, f"no files named: the workspace's {n} documents", force=True)
        return {"files": 0, "documents": n}
    results = ingest_paths(
        ws,
        state["files"],
        stage_settings(ws, "")["ingest"],
        model_name=defaults_for(ws).base_model,  # as `embstudio ingest`: its token limit
        on_progress=lambda i, n, name: stage.progress(i, n, f"[{i}/{n}] {name}"),
    )
    for r in results:
        ctx.log.info("ingest %s: %s %s", r.file, r.status, r.error or "")
    if ws.counts()["documents"] == 0:
        why = next((f"{r.file}: {r.error}" for r in results if r.error), "no text found")
        raise PipelineError(f"no document could be ingested: {why}")
    return {
        "files": len(results),
        "ingested": sum(r.status == "ingested" for r in results),
        "duplicates": sum(r.status == "duplicate" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "documents": ws.counts()["documents"],
    }


def _generate(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from core.generation.pipeline import generate, progress_line

    settings = stage_settings(ws, "")["generate"]
    stage.progress(0, 1, f"kinds {','.join(settings.kinds)}, loading models", force=True)
    summary = generate(
        ws,
        settings,
        on_progress=lambda d, t, counts: stage.progress(d, t, progress_line(d, t, counts)),
    )
    keep = ("kept", "dropped", "chunks_processed", "chunks_skipped", "errors", "seconds")
    return {k: summary[k] for k in keep if k in summary}


def _accept(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from core import pairs

    accepted = pairs.accept_all(ws)
    counts = pairs.status_counts(ws)
    if not counts.get("accepted", 0) + counts.get("edited", 0):
        raise PipelineError(
            "no pair to train on: the documents gave no usable query (add longer documents)"
        )
    stage.progress(1, 1, f"accepted {accepted} pending pairs", force=True)
    return {"accepted": accepted, "counts": counts}


def _mine(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from core.mining import mine_workspace

    stage.progress(0, 1, "loading the model", force=True)
    return mine_workspace(ws, stage_settings(ws, "")["mine"], on_progress=stage.progress)


def _train(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from core.training.jobs import prepare_run, train_with_final_fit

    config = stage_settings(ws, "")["train"]
    resume = state.get("run_id") is not None  # an earlier attempt created the run
    if not resume:
        state["run_id"] = prepare_run(ws, config)
        _save_state(ws, state)
    out = train_with_final_fit(
        stage, ctx.log, ws, config, state["run_id"], resume=resume, on_fit=stage.set_fit
    )
    return {
        "run_id": out["run_id"],
        "model_path": out["model_path"],
        "final_run_id": out.get("final_run_id"),
        "final_model_path": out.get("final_model_path"),
        "steps": out["metrics"].get("steps"),
        "train_seconds": out["metrics"].get("train_seconds"),
    }


RESULT_METRICS: tuple[str, ...] = ("NDCG@10", "Recall@3", "Recall@10", "MRR@10")


def _final_run_id(state: dict) -> str | None:
    return state["stages"].get("train", {}).get("result", {}).get("final_run_id")


def _evaluate(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    from dataclasses import asdict

    from core.evaluation.headline import headline
    from core.evaluation.runner import run_evaluation

    params = stage_settings(ws, state["run_id"], _final_run_id(state))["evaluate"]
    if params["dataset"] == "beir":
        ctx.log.info("evaluate on the question set %s", params["beir_dir"])
    stage.progress(0, 1, "loading the models", force=True)
    payload = run_evaluation(ws, params, lambda d, t, m: stage.progress(d, t, m))
    cmp = payload.get("comparison") or {}
    return {
        "evaluation_id": payload["id"],
        "report_paths": payload.get("report_paths", {}),
        "dataset": params["dataset"],
        "questions_dir": params["beir_dir"],
        "evaluated_run_id": params["runs"][0],
        "queries": payload["dataset"]["queries"],
        "metrics": {
            m["label"]: {k: m["metrics"][k] for k in RESULT_METRICS if k in m["metrics"]}
            for m in payload["models"]
        },
        "models": [
            {"label": m["label"], "kind": m.get("kind", "dense"), "run_id": m.get("run_id")}
            for m in payload["models"]
        ],
        "headline": asdict(headline(payload)),
        "comparison": {k: cmp.get(k) for k in ("wins", "losses", "ties", "significance_sentence")},
    }


def _geometry(ws: Workspace, state: dict, stage: StageProgress, ctx: JobContext) -> dict:
    """The Evaluate page's "Compute geometry" of the base model and the evaluated run, run in
    this process and then recorded as a finished "geometry" job (what the page shows), its
    file in that job's folder."""
    from core.evaluation.runner import model_specs
    from core.geometry import GeometrySettings, compute_geometry
    from core.jobs import finish_job, job_folder

    params = stage_settings(ws, state["run_id"], _final_run_id(state))["geometry"]
    evaluated = state["stages"].get("evaluate", {}).get("result", {}).get("evaluated_run_id")
    if evaluated:
        params["runs"] = [evaluated]
    stage.progress(0, 1, "loading the models", force=True)
    t0 = time.monotonic()
    result = compute_geometry(
        ws,
        model_specs(ws, params),
        GeometrySettings.from_params(params),
        on_progress=lambda d, t, m: stage.progress(d, t, m, force=True),
    )
    ctx.log.info("geometry (%s) took %.1fs", params["projection"], time.monotonic() - t0)
    job_id = start_job(ws, "geometry", {**params, "pipeline": state["pipeline"]}, spawn=False)
    path = job_folder(ws, job_id, None) / "geometry.json"
    path.write_text(json.dumps(result, default=float))
    out = {"geometry_path": ws.relative(path), "summary": result["summary"]}
    finish_job(ws, job_id, "succeeded", result=out)
    return {"geometry_job": job_id, **out}


STAGE_FUNCTIONS: dict[str, StageFn] = {
    "ingest": _ingest,
    "generate": _generate,
    "accept": _accept,
    "mine": _mine,
    "train": _train,
    "evaluate": _evaluate,
    "geometry": _geometry,
}


# ----------------------------------------------------------------------------- the job


def auto_job(ctx: JobContext) -> dict[str, Any]:
    """Handler of "auto": params {"pipeline": id, "files": [absolute paths], "resume"}."""
    pipeline = ctx.params["pipeline"]
    others = [
        j
        for j in list_jobs(ctx.ws, kind="auto", active_only=True)
        if j["id"] != ctx.job_id and j["params"].get("pipeline") == pipeline
    ]
    if others:
        raise JobError(f"pipeline {pipeline} is already being run by job {others[0]['id']}")
    state = load_state(ctx.ws, pipeline)
    state["files"] = state["files"] or ctx.params.get("files", [])
    state["attempts"].append(ctx.job_id)
    _save_state(ctx.ws, state)
    for index, name in enumerate(STAGES):
        if name in state["stages"]:
            done = state["stages"][name]
            ctx.log.info(
                "stage %d/%d %s: done by job %s in %.1fs, skipped",
                index + 1,
                len(STAGES),
                name,
                done["job"],
                done["seconds"],
            )
            continue
        stage = StageProgress(ctx, index)
        stage.progress(0, 1, "starting", force=True)
        ctx.log.info("stage %d/%d %s: started", index + 1, len(STAGES), name)
        t0 = time.monotonic()
        result = STAGE_FUNCTIONS[name](ctx.ws, state, stage, ctx)
        seconds = round(time.monotonic() - t0, 1)
        state["stages"][name] = {
            "job": ctx.job_id,
            "seconds": seconds,
            "finished_at": now_iso(),
            "result": result,
        }
        _save_state(ctx.ws, state)
        ctx.log.info(
            "stage %d/%d %s: done in %.1fs: %s", index + 1, len(STAGES), name, seconds, result
        )
    return summary(state)


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """The job's result: ids of what it made, seconds per stage, the headline figures."""
    stages = state["stages"]
    train = stages.get("train", {}).get("result", {})
    evaluation = stages.get("evaluate", {}).get("result", {})
    geometry = stages.get("geometry", {}).get("result", {})
    return {
        "pipeline": state["pipeline"],
        "run_id": train.get("run_id"),
        "final_run_id": train.get("final_run_id"),
        "final_model_path": train.get("final_model_path"),
        "evaluation_id": evaluation.get("evaluation_id"),
        "evaluated_run_id": evaluation.get("evaluated_run_id", train.get("run_id")),
        "dataset": evaluation.get("dataset", "workspace"),
        "questions_dir": evaluation.get("questions_dir"),
        "queries": evaluation.get("queries"),
        "metrics": evaluation.get("metrics", {}),
        "models": evaluation.get("models", []),
        "headline": evaluation.get("headline"),
        "comparison": evaluation.get("comparison", {}),
        "geometry_job": geometry.get("geometry_job"),
        "stage_seconds": {name: stages[name]["seconds"] for name in STAGES if name in stages},
        "seconds": round(sum(s["seconds"] for s in stages.values()), 1),
    }
