"""`embstudio mine`, `embstudio train`, `embstudio merge`, `embstudio jobs`."""

from __future__ import annotations

import argparse

from core.cli.output import add_common, emit, follow, open_workspace, progress


def register(sub: argparse._SubParsersAction) -> None:
    from core.cli.settings_options import add_settings_options
    from core.mining_settings import MiningSettings
    from core.training.config import TrainConfig
    from core.training.objectives import available_objectives

    p = sub.add_parser("mine", help="mine hard negatives for the curated pairs")
    add_common(p)
    # One option per MiningSettings field (core/mining_settings.py); left-out options keep the
    # field's default, the model the workspace's base model.
    add_settings_options(
        p,
        MiningSettings,
        helps={
            "model": "embedding model, folder or run:<RUN> (default: the workspace's base model)",
            "relative_margin": "keep scores < min_pos - M*|min_pos| (default "
            f"{MiningSettings().relative_margin}; 'off' or a negative value = off)",
        },
    )
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser("train", help="fine-tune a model as a background job")
    add_common(p)
    # One option per TrainConfig field (core/training/config.py: the run's, MoE's and every
    # objective's settings); left-out options keep --config's or the workspace's values.
    add_settings_options(
        p,
        TrainConfig,
        skip=[s.name for s in TrainConfig.specs() if s.metadata.get("internal")],
        flags={
            "base_model": "--base",
            "learning_rate": "--lr",
            "negatives_per_query": "--negatives",
        },
        helps={
            "base_model": "base model name, folder or run:<RUN>",
            "loss": "objective: " + ", ".join(available_objectives()),
            "preset": "lr and epochs when not given: questions (1e-4, 3), pseudo (2e-5, 1); "
            "auto (default) picks pseudo when most training pairs are pseudo-queries",
            "epochs": "default: from the preset",
            "learning_rate": "learning rate; default: the preset's",
            "negatives_per_query": "hard negatives per record (default: preset)",
            "devices": "train on N devices at once (DDP under torchrun: N GPUs, or N CPU "
            "processes); each step takes N x batch-size records",
            "final_fit": "after the run, train the final fit (run RUN-all: the run continued "
            "on the pairs it held out); --no-final-fit: do not",
        },
    )
    p.add_argument("--config", default=None, help="a config.json to start from")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any TrainConfig field (repeatable)",
    )
    p.add_argument("--wait", action="store_true", help="block until the run finishes")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "merge",
        help="mix a run's weights with its base model's (WiSE-FT): run RUN-mixNN",
        description="theta = (1 - alpha) * base + alpha * tuned; the mix is a run of its own "
        "that evaluates, exports and serves like any run.",
    )
    add_common(p)
    p.add_argument("--run", required=True, help="a finished training run")
    p.add_argument(
        "--alpha", type=float, required=True, help="weight of the tuned model, 0 (base) to 1"
    )
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("jobs", help="list jobs; cancel or resume a run")
    add_common(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cancel", metavar="RUN", help="cancel a run (or job id)")
    g.add_argument("--resume", metavar="RUN", help="resume a failed/cancelled run (or job id)")
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="with --resume: continue the run on N devices (default: the run's own count)",
    )
    p.set_defaults(func=cmd_jobs)


def mining_settings(ws, args: argparse.Namespace):
    """The mining `embstudio mine` asks for (core.commands.mining_settings)."""
    from core.commands import mining_settings as build

    return build(ws, args)


def cmd_mine(args: argparse.Namespace) -> int:
    from core.mining import mine_workspace

    ws = open_workspace(args.workspace)
    settings = mining_settings(ws, args)
    last = [-1]

    def report(step: int, total: int, message: str) -> None:
        pct = int(100 * step / max(1, total))
        if pct != last[0]:
            last[0] = pct
            progress(f"{message}: {pct}%")

    out = mine_workspace(ws, settings, on_progress=report)
    s = out["stats"]
    emit(
        args,
        out,
        f"mining {out['mining_id']}: {s['negatives']} negatives for {s['queries']} queries "
        f"({s['removed_by_margin']} candidates removed by the margin, "
        f"{s['queries_short_of_k']} queries with fewer than {settings.negatives}; "
        f"index {s['index']})",
    )
    return 0


def build_config(args: argparse.Namespace):
    """The run `embstudio train` asks for (core.commands.train_config)."""
    from core.commands import train_config

    return train_config(open_workspace(args.workspace), args)


def cmd_train(args: argparse.Namespace) -> int:
    from core.training.jobs import start_training
    from core.training.signal import training_signal

    ws = open_workspace(args.workspace)
    cfg = build_config(args)
    progress("training signal: " + training_signal(ws, cfg).sentence())
    run_id, job_id = start_training(ws, cfg)
    progress(f"run {run_id} started (job {job_id})")
    if not args.wait:
        emit(args, {"run_id": run_id, "job_id": job_id, "status": "queued"}, run_id)
        return 0
    job = follow(ws, job_id, poll_s=2.0)
    result = job.get("result") or {}
    payload = {
        "run_id": run_id,
        "job_id": job_id,
        "status": job["status"],
        "model_path": result.get("model_path"),
        "metrics": result.get("metrics", {}),
        "final_run_id": result.get("final_run_id"),
        "final_model_path": result.get("final_model_path"),
        "error": job.get("error"),
    }
    if job["status"] != "succeeded":
        emit(args, payload, f"run {run_id} {job['status']}: {job.get('error') or ''}")
        raise RuntimeError(
            f"run {run_id} {job['status']}: {(job.get('error') or '').splitlines()[0:1]}"
        )
    text = f"{run_id}\nmodel: {payload['model_path']}"
    if payload["final_run_id"]:
        text += (
            f"\nfinal fit, trained on every document (the model to ship): {payload['final_run_id']}"
            f"\nfinal model: {payload['final_model_path']}"
        )
    emit(args, payload, text)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from core.training.merge import merge_run

    ws = open_workspace(args.workspace)
    out = merge_run(ws, args.run, args.alpha)
    emit(args, out, f"{out['run_id']}\nmodel: {out['model_path']}")
    return 0


def _job_of(ws, ref: str) -> dict:
    from core.jobs import JobError, list_jobs

    for job in list_jobs(ws):
        if job["id"] == ref or job["run_id"] == ref:
            return job  # newest first
    raise JobError(f"no job or run {ref!r}")


def cmd_jobs(args: argparse.Namespace) -> int:
    from core.jobs import cancel_job, list_jobs
    from core.training.distributed import resume_on_devices

    ws = open_workspace(args.workspace)
    if args.devices is not None and not args.resume:
        raise ValueError("--devices goes with --resume (a new run takes `train --devices N`)")
    if args.cancel:
        job = _job_of(ws, args.cancel)
        status = cancel_job(ws, job["id"])
        emit(args, {"job_id": job["id"], "run_id": job["run_id"], "status": status}, status)
        return 0
    if args.resume:
        job = _job_of(ws, args.resume)
        new = resume_on_devices(ws, job["id"], args.devices)
        emit(
            args,
            {"job_id": new, "run_id": job["run_id"], "resumed_from": job["id"]},
            f"resumed as job {new}",
        )
        return 0
    jobs = list_jobs(ws)
    keep = (
        "id",
        "kind",
        "status",
        "run_id",
        "step",
        "total",
        "progress",
        "message",
        "error",
        "created_at",
        "finished_at",
    )
    rows = [{k: j.get(k) for k in keep} for j in jobs]
    lines = [
        f"{j['id']}  {j['kind']:<8} {j['status']:<9} {j['step']}/{j['total']}  "
        f"{j['run_id'] or ''}  {j['message'] or ''}"
        for j in rows
    ] or ["no jobs"]
    emit(args, {"jobs": rows}, "\n".join(lines))
    return 0
