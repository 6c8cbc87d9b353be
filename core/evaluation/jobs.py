"""Job kinds "evaluate", "geometry" and "merge_curve", run as background processes by core.jobs.

evaluate params: see `core.evaluation.runner`. geometry params: the fields of
`core.geometry.GeometrySettings` plus base_model and runs/models (as for evaluate).
merge_curve params: the fields of `core.evaluation.merge_curve.CurveSettings`.
Heavy modules (torch, the models) are imported inside the handlers so that registering the
kinds stays cheap for processes that only list jobs.
"""

from __future__ import annotations

import json
from typing import Any

from core.jobs import JobContext, register_handler

register_handler("evaluate", "core.evaluation.jobs:evaluate_job")
register_handler("geometry", "core.evaluation.jobs:geometry_job")
register_handler("merge_curve", "core.evaluation.jobs:merge_curve_job")


def evaluate_job(ctx: JobContext) -> dict[str, Any]:
    """Handler of "evaluate": writes the report and returns where it is plus the metrics."""
    from core.evaluation.runner import run_evaluation

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
    from core.evaluation.runner import model_specs
    from core.geometry import GeometrySettings, compute_geometry

    params = ctx.params
    specs = model_specs(ctx.ws, {**params, "references": False})  # dense models only
    settings = GeometrySettings.from_params(params)
    result = compute_geometry(
        ctx.ws, specs, settings, on_progress=lambda d, t, m: ctx.progress(d, t, m)
    )
    path = ctx.folder / "geometry.json"
    path.write_text(json.dumps(result, default=float))
    return {"geometry_path": ctx.ws.relative(path), "summary": result["summary"]}


def merge_curve_job(ctx: JobContext) -> dict[str, Any]:
    """Handler of "merge_curve": measures every mix, writes the curve file, returns its path."""
    from core.evaluation.merge_curve import CurveSettings, compute_curve, curve_rows

    curve = compute_curve(
        ctx.ws, CurveSettings.from_params(ctx.params), lambda d, t, m: ctx.progress(d, t, m)
    )
    ctx.log.info("merge curve of %s written to %s", curve["run_id"], curve["path"])
    return {"curve_path": curve["path"], "points": curve_rows(curve)}
