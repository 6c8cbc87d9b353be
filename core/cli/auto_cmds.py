"""`embstudio auto`: the whole pipeline with defaults as one background job (core/auto.py)."""

from __future__ import annotations

import argparse

from core.cli.output import add_common, emit, follow, open_workspace, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "auto",
        help="ingest FILES, then generate, accept, mine, train, evaluate and geometry with defaults",
        description="One background job running what `ingest`, `generate`, `pairs "
        "--accept-all`, `mine`, `train` (with its final fit), `evaluate` (the final fit on the "
        "workspace's question set when Settings name one, else `--run RUN` on the held-out "
        "split) and the geometry do with no option. `embstudio jobs WS --cancel JOB` stops "
        "it; `--resume JOB` continues at the stage it stopped.",
    )
    add_common(p)
    p.add_argument(
        "paths",
        nargs="*",
        metavar="FILE_OR_DIR",
        help="documents to ingest first (none: the workspace's own documents)",
    )
    p.add_argument("--wait", action="store_true", help="block until the pipeline finishes")
    p.set_defaults(func=cmd_auto)


def result_text(result: dict) -> str:
    """The finished pipeline in a few lines: the runs, the headline figures, where to look."""
    lines = [
        f"split run {result['run_id']}, final fit (the model to ship): {result['final_run_id']}",
        f"final model: {result['final_model_path']}",
    ]
    for label, m in result["metrics"].items():
        lines.append(
            f"{label:>32}  nDCG@10 {m['NDCG@10']:.4f}  Recall@10 {m['Recall@10']:.4f}"
            f"  MRR@10 {m['MRR@10']:.4f}"
        )
    from core.overview import result_words

    lines += result_words(result)
    cmp = result.get("comparison") or {}
    if cmp.get("significance_sentence"):
        lines.append(cmp["significance_sentence"])
        lines.append(f"wins {cmp['wins']}, losses {cmp['losses']}, ties {cmp['ties']}")
    stages = ", ".join(f"{k} {v:.0f}s" for k, v in result["stage_seconds"].items())
    lines.append(f"evaluation {result['evaluation_id']} (Evaluate page); {stages}")
    return "\n".join(lines)


def cmd_auto(args: argparse.Namespace) -> int:
    from core.auto import start_auto

    ws = open_workspace(args.workspace)
    job_id = start_auto(ws, args.paths)
    progress(f"pipeline started (job {job_id}); `embstudio jobs {ws.root} --cancel {job_id}`")
    if not args.wait:
        emit(args, {"job_id": job_id, "status": "queued"}, job_id)
        return 0
    job = follow(ws, job_id, poll_s=1.0)
    result = job.get("result") or {}
    if job["status"] != "succeeded":
        reason = (job.get("error") or "").splitlines()[:1]
        raise RuntimeError(
            f"pipeline job {job_id} {job['status']}: {reason[0] if reason else ''}; "
            f"`embstudio jobs {ws.root} --resume {job_id}` continues at the stage it stopped"
        )
    emit(args, {"job_id": job_id, "status": job["status"], **result}, result_text(result))
    return 0
