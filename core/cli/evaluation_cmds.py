"""`embstudio evaluate`: base vs tuned retrieval metrics on a held-out or BEIR set."""

from __future__ import annotations

import argparse
import time

from core.cli.output import add_common, emit, open_workspace, progress
from core.retrieval.windows import DEFAULT_PASSAGE_MODE, PASSAGE_MODE_LABELS, PASSAGE_MODES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="retrieval metrics of the base model and, with --run, the tuned model",
        description="Without --run only the base model is evaluated; with --run both, plus "
        "per-query wins/losses and a paired significance test on nDCG@10.",
    )
    add_common(p)
    p.add_argument("--run", action="append", default=[], metavar="RUN", help="training run id")
    p.add_argument(
        "--base",
        default=None,
        help="base model name or folder (default: the workspace's base model)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--beir", metavar="DIR", help="a BEIR folder instead of the workspace split")
    src.add_argument(
        "--general",
        nargs="?",
        const="",
        metavar="DIR",
        help="the general-domain check: DIR, else the folder named in Settings or "
        "$EMBSTUDIO_GENERAL_DIR, else SciFact from the cache (downloaded by BEIR's downloader "
        "when reachable)",
    )
    p.add_argument("--split", default="test", help="workspace pairs split / BEIR qrels file")
    p.add_argument(
        "--group",
        default=None,
        metavar="FIELD",
        help="restrict candidates to the query's group: 'document' for a workspace, or a "
        "corpus field of a BEIR folder",
    )
    p.add_argument("--top-k", type=int, default=100, help="candidates kept per query")
    p.add_argument("--batch-size", type=int, default=32, help="encoding batch size")
    p.add_argument("--no-report", action="store_true", help="do not write a report")
    p.add_argument(
        "--no-references",
        action="store_true",
        help="leave out keyword search (bm25) and the hybrids (base+bm25, RUN+bm25)",
    )
    p.add_argument(
        "--passages",
        choices=PASSAGE_MODES,
        default=DEFAULT_PASSAGE_MODE,
        help="windows: a passage longer than the model's window scores its best window "
        "(default); truncate: cut it at the window, as published figures do",
    )
    p.set_defaults(func=cmd_evaluate)


def evaluation_params(ws, args: argparse.Namespace) -> dict:
    """The runner's params for the parsed command line (no `--base`: the workspace's
    Settings, read by the runner)."""
    from core.evaluation import runner

    if args.beir:
        dataset, beir_dir = "beir", args.beir
    elif args.general is not None:
        dataset, beir_dir = "general", args.general or None
    else:
        dataset, beir_dir = "workspace", None
    return runner.evaluation_params(
        args.run,
        dataset=dataset,
        beir_dir=beir_dir,
        split=args.split,
        group=args.group,
        base_model=args.base,
        top_k=args.top_k,
        batch_size=args.batch_size,
        save=not args.no_report,
        references=not args.no_references,
        passages=args.passages,
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.evaluation.headline import headline
    from core.evaluation.runner import run_evaluation

    ws = open_workspace(args.workspace)
    params = evaluation_params(ws, args)
    start = time.perf_counter()
    last = [0.0]

    def on_progress(done: int, total: int, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] >= 5 or done >= total:
            last[0] = now
            progress(message)

    payload = run_evaluation(ws, params, on_progress)
    seconds = time.perf_counter() - start
    models = [
        {
            "label": m["label"],
            "kind": m["kind"],
            "weight": m["weight"],
            "method": m["method"] if m["kind"] == "hybrid" else None,
            "run_id": m["run_id"],
            "model_path": m["location"],
            "metrics": m["metrics"],
            "n_queries": m["n_queries"],
            "seconds": m["seconds"],
        }
        for m in payload["models"]
    ]
    cmp = payload.get("comparison")
    ref = payload.get("reference_comparison")
    # The tuned model's figures (the last dense model named: the run, or the base alone).
    tuned = next(m for m in reversed(models) if m["kind"] == "dense")
    said = headline(payload)
    out = {
        "workspace": str(ws.root),
        "evaluation_id": payload["id"],
        "dataset": payload["dataset"],
        "run_id": args.run[0] if args.run else None,
        "model_path": tuned["model_path"],
        "metrics": tuned["metrics"],
        "models": models,
        "comparison": (
            {k: cmp[k] for k in ("label_a", "label_b", "wins", "losses", "ties", "significance")}
            if cmp
            else None
        ),
        "reference_comparison": (
            {k: ref[k] for k in ("label_a", "label_b", "wins", "losses", "ties", "significance")}
            if ref
            else None
        ),
        "headline": said.sentences,
        "best": said.best,
        "passages": payload["config"]["passages"],
        "report": payload.get("report_paths"),
        "seconds": round(seconds, 1),
    }
    lines = [
        f"{payload['dataset']['name']}: {payload['dataset']['queries']} queries "
        f"({PASSAGE_MODE_LABELS[payload['config']['passages']]})"
    ]
    for m in models:
        a = m["metrics"]
        lines.append(
            f"{m['label']:>24}  nDCG@10 {a['NDCG@10']:.4f}  Recall@3 {a['Recall@3']:.4f}"
            f"  Recall@10 {a['Recall@10']:.4f}  MRR@10 {a['MRR@10']:.4f}"
        )
    if cmp:
        lines.append(cmp["significance_sentence"])
        lines.append(f"wins {cmp['wins']}, losses {cmp['losses']}, ties {cmp['ties']}")
    lines += said.sentences
    if payload.get("report_paths"):
        lines.append(f"report: {ws.resolve(payload['report_paths']['markdown'])}")
    emit(args, out, "\n".join(lines))
    return 0
