"""Job kinds "evaluate" and "geometry" (run as background processes by core.jobs), and the
plain functions behind them that the CLI calls in-process.

evaluate params: dataset ("workspace" | "beir" | "general"), beir_dir (for beir/general),
split (default "test"), group (None | field), base_model (default DEFAULT_BASE_MODEL),
runs (list of run ids; the base model is evaluated first, as reference A) or models (an
explicit list, each "base" or a run id; the first two are compared as A and B),
top_k (100), batch_size (32), seed (0), save (write the report, default True).
geometry params: see `core.geometry.GeometrySettings` plus base_model and runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core.evaluation.compare import ModelSpec, base_spec, evaluate_models, run_spec
from core.evaluation.datasets import EvalSet, beir_set, general_set, workspace_set
from core.evaluation.report import build_payload, save_report
from core.jobs import JobContext, register_handler
from core.models import DEFAULT_BASE_MODEL
from core.store import Workspace

register_handler("evaluate", "core.evaluation.jobs:evaluate_job")
register_handler("geometry", "core.evaluation.jobs:geometry_job")

Progress = Callable[[int, int, str], None]


def load_evalset(ws: Workspace, params: dict[str, Any]) -> EvalSet:
    """The evaluation set that `params` names (see the module docstring)."""
    kind = params.get("dataset", "workspace")
    split = params.get("split") or "test"
    group = params.get("group") or None
    if kind == "workspace":
        return workspace_set(ws, split, group)
    if kind == "beir":
        if not params.get("beir_dir"):
            raise ValueError("dataset 'beir' needs beir_dir")
        return beir_set(params["beir_dir"], split, group)
    if kind == "general":
        evalset = general_set(params.get("beir_dir"), split)
        return evalset
    raise ValueError(f"unknown dataset {kind!r} (workspace, beir or general)")


def model_specs(ws: Workspace, params: dict[str, Any]) -> list[ModelSpec]:
    """The models `params` names: `models` (each "base" or a run id), else base + `runs`."""
    base = base_spec(params.get("base_model") or DEFAULT_BASE_MODEL)
    names = params.get("models") or ["base", *(params.get("runs") or [])]
    specs = [base if name == "base" else run_spec(ws, name) for name in names]
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("the same model is named twice")
    return specs


def run_evaluation(
    ws: Workspace, params: dict[str, Any], on_progress: Progress | None = None
) -> dict[str, Any]:
    """Evaluate the base model and the given runs; returns the report payload (with
    `report_paths` when saved)."""
    evalset = load_evalset(ws, params)
    specs = model_specs(ws, params)
    config = {
        "params": params,
        "top_k": int(params.get("top_k", 100)),
        "batch_size": int(params.get("batch_size", 32)),
        "seed": int(params.get("seed", 0)),
    }
    outcomes, comparison = evaluate_models(
        evalset,
        specs,
        top_k=config["top_k"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        on_progress=(lambda msg, d, t: on_progress(d, t, msg)) if on_progress else None,
    )
    payload = build_payload(ws, evalset, outcomes, comparison, config)
    if params.get("save", True):
        payload["report_paths"] = save_report(ws, payload)
    return payload


def evaluate_job(ctx: JobContext) -> dict[str, Any]:
    """Handler of "evaluate": writes the report and returns where it is plus the metrics."""
    payload = run_evaluation(ctx.ws, ctx.params, lambda d, t, m: ctx.progress(d, t, m))
    (ctx.folder / "report.json").write_text(json.dumps(payload, default=str))
    ctx.log.info("evaluation %s written to %s", payload["id"], payload.get("report_paths"))
    return {
        "evaluation_id": payload["id"],
        "report_paths": payload.get("report_paths", {}),
        "metrics": {m["label"]: m["metrics"] for m in payload["models"]},
    }


def geometry_job(ctx: JobContext) -> dict[str, Any]:
    """Handler of "geometry": writes geometry.json in the job folder and returns its path."""
    from core.geometry import GeometrySettings, compute_geometry

    params = ctx.params
    specs = model_specs(ctx.ws, params)
    settings = GeometrySettings.from_params(params)
    result = compute_geometry(
        ctx.ws, specs, settings, on_progress=lambda d, t, m: ctx.progress(d, t, m)
    )
    path = ctx.folder / "geometry.json"
    path.write_text(json.dumps(result, default=float))
    return {"geometry_path": str(path.relative_to(ctx.ws.root)), "summary": result["summary"]}
