"""The background job kind "generate": runs `pipeline.generate` with progress in the jobs table."""

from __future__ import annotations

from typing import Any

from core.jobs import JobContext, register_handler


def generate_job(ctx: JobContext) -> dict[str, Any]:
    """Params are `GenerateSettings.to_params()`; a resumed job simply reruns (chunks its
    writer has done are skipped through generation_log)."""
    from core.generation.pipeline import GenerateSettings, generate, progress_line

    settings = GenerateSettings.from_params(ctx.params)
    ctx.log.info("generate: provider=%s kinds=%s", settings.provider, ",".join(settings.kinds))
    ctx.progress(0, 1, "loading models", force=True)

    def on_progress(done: int, total: int, counts: dict[str, int]) -> None:
        msg = progress_line(done, total, counts)
        ctx.log.info(msg)
        ctx.progress(done, total, msg)

    summary = generate(ctx.ws, settings, on_progress=on_progress)
    ctx.log.info("done: kept %s, dropped %s", summary["kept"], summary["dropped"])
    return summary


register_handler("generate", "core.generation.jobs:generate_job")
