"""The "export" background job: `export_run` in a worker process (see core/jobs.py).

Params: run_id (str, required), int8 (bool, default true), n_texts (int, parity texts).
The job's folder is jobs/<job-id>/ (not the run folder, so exporting never blocks on or
interferes with a training job writing that run); the export itself goes to WS/exports/.
"""

from __future__ import annotations

from typing import Any

from core.jobs import JobContext, register_handler

register_handler("export", "core.export.jobs:export_job")


def export_job(ctx: JobContext) -> dict[str, Any]:
    from core.export.parity import DEFAULT_N_TEXTS
    from core.export.pipeline import export_run

    run_id = ctx.params.get("run_id")
    if not run_id:
        raise ValueError("export job needs params.run_id")

    def on_progress(step: int, total: int, message: str) -> None:
        ctx.log.info(message)
        ctx.progress(step, total, message, force=True)

    info = export_run(
        ctx.ws,
        str(run_id),
        int8=bool(ctx.params.get("int8", True)),
        n_texts=int(ctx.params.get("n_texts", DEFAULT_N_TEXTS)),
        on_progress=on_progress,
    )
    ctx.log.info("export written to %s", info["path"])
    return info
