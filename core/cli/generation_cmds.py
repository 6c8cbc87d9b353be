"""`embstudio generate` (synthetic pairs, in-process) and `embstudio pairs` (review in bulk,
import, export)."""

from __future__ import annotations

import argparse

from core.cli.output import add_common, emit, open_workspace, progress


def register(sub: argparse._SubParsersAction) -> None:
    from core.generation.bundled_llms import CATALOGUE, DEFAULT_LOCAL_LLM
    from core.generation.pipeline import ALL_KINDS, DEFAULT_KINDS

    p = sub.add_parser("generate", help="write synthetic (question, chunk) pairs and filter them")
    add_common(p)
    p.add_argument(
        "--provider",
        choices=["local", "openai"],
        default=None,
        help="local: a bundled model (offline, the default); openai: any OpenAI-compatible "
        "endpoint. Naming a writer without --kinds adds simple questions to the default kinds",
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"local provider: the bundled model ({', '.join(CATALOGUE)}; default "
        f"{DEFAULT_LOCAL_LLM}); openai provider: the model name at the endpoint",
    )
    p.add_argument("--base-url", default=None, help="endpoint URL, e.g. http://localhost:8000/v1")
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (never stored)",
    )
    p.add_argument(
        "--per-chunk",
        type=int,
        default=None,
        help="questions per chunk for every selected kind (default: per kind)",
    )
    p.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated, from {','.join(ALL_KINDS)} (default {','.join(DEFAULT_KINDS)})",
    )
    p.add_argument("--limit-chunks", type=int, default=None, help="only the first N chunks")
    p.add_argument("--judge", choices=["auto", "llm", "heuristic", "none"], default="auto")
    p.add_argument("--min-judge-score", type=float, default=None, help="keep threshold, 1-5")
    p.add_argument(
        "--roundtrip-k",
        type=int,
        default=None,
        help="source chunk must rank in the top K, for every kind (default: 3 for LLM "
        "questions, off for pseudo-queries; 0 = off)",
    )
    p.add_argument(
        "--ict-remove-sentence",
        action="store_true",
        help="inverse cloze positives without their query sentence",
    )
    p.add_argument(
        "--examples",
        default=None,
        metavar="FILE",
        help="up to 8 example questions (one per line, or JSONL with 'query') for every LLM "
        "prompt; stored in the workspace for later runs ('-' clears them)",
    )
    p.add_argument(
        "--write-again",
        action="store_true",
        help="write for chunks this writer already wrote for (default: resume, skipping them)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per endpoint request")
    p.add_argument("--concurrency", type=int, default=4, help="endpoint requests at once")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("pairs", help="accept pairs in bulk, import or export them")
    add_common(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--accept-all", action="store_true", help="accept every pending pair")
    group.add_argument(
        "--accept-min-score",
        type=float,
        default=None,
        metavar="X",
        help="accept pending pairs with judge score >= X (1-5)",
    )
    p.add_argument("--export", default=None, metavar="F.jsonl", help="write pairs to JSONL")
    p.add_argument(
        "--import",
        dest="import_path",
        default=None,
        metavar="F.jsonl|BEIR_DIR",
        help="import pairs from JSONL or a BEIR folder",
    )
    p.set_defaults(func=cmd_pairs)


def cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.generation.filters import FilterSettings
    from core.generation.pipeline import (
        GenerateSettings,
        GenerationError,
        default_kinds,
        generate,
        progress_line,
    )

    ws = open_workspace(args.workspace)
    writer_named = any(v is not None for v in (args.provider, args.model, args.base_url))
    if args.kinds is None:
        kinds = default_kinds(writer_named)
    else:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    fs = FilterSettings()
    if args.min_judge_score is not None:
        fs = replace(fs, min_judge_score=args.min_judge_score)
    if args.roundtrip_k is not None:
        fs = replace(fs, roundtrip_k=args.roundtrip_k, pseudo_roundtrip_k=args.roundtrip_k)
    settings = GenerateSettings(
        provider=args.provider or "local",
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        kinds=kinds,
        per_chunk={k: args.per_chunk for k in kinds} if args.per_chunk is not None else {},
        limit_chunks=args.limit_chunks,
        judge=args.judge,
        ict_remove_sentence=args.ict_remove_sentence,
        filters=fs,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        write_again=args.write_again,
    )
    try:
        settings.validate()  # before any model loads: a bad setting costs nothing
    except GenerationError as exc:
        raise ValueError(str(exc)) from exc
    if args.examples is not None:
        from core.generation.examples import read_examples_file, save_examples

        shown = save_examples(ws, [] if args.examples == "-" else read_examples_file(args.examples))
        progress(f"examples: {len(shown)} question(s) stored; every LLM prompt shows them")
    progress(f"generate: provider {settings.provider}, kinds {','.join(kinds)} (loading models…)")

    def on_progress(done: int, total: int, counts: dict[str, int]) -> None:
        progress(progress_line(done, total, counts))

    try:
        summary = generate(ws, settings, on_progress=on_progress)
    except GenerationError as exc:
        raise RuntimeError(str(exc)) from exc
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["dropped_by_reason"].items()))
    human = (
        f"kept {summary['kept']}, dropped {summary['dropped']}"
        + (f" ({reasons})" if reasons else "")
        + f"; {summary['chunks_processed']} chunks processed, {summary['chunks_skipped']} "
        f"skipped as already written by this writer, {summary['errors']} with errors; "
        f"{summary['seconds']} s"
    )
    if summary["chunks_skipped"] and not summary["chunks_processed"]:
        human += "\nnothing new to write: --write-again writes these chunks again"
    if summary["errors"]:
        for e in summary["error_examples"][:3]:
            progress(f"chunk {e['chunk_id']} ({e['kind']}): {e['error']}")
    emit(args, {"workspace": str(ws.root), **summary}, human)
    return 0


def cmd_pairs(args: argparse.Namespace) -> int:
    from core import pairs

    ws = open_workspace(args.workspace)
    out: dict = {"workspace": str(ws.root)}
    lines: list[str] = []
    if args.import_path:
        result = pairs.import_pairs(ws, args.import_path)
        out["import"] = result
        lines.append(f"imported {result['imported']} pairs ({result['format']})")
        for problem in result.get("problems", [])[:3]:
            progress(problem)
    if args.accept_all:
        out["accepted"] = pairs.accept_all(ws)
        lines.append(f"accepted {out['accepted']} pending pairs")
    elif args.accept_min_score is not None:
        out["accepted"] = pairs.accept_min_score(ws, args.accept_min_score)
        lines.append(
            f"accepted {out['accepted']} pairs with judge score >= {args.accept_min_score}"
        )
    if args.export:
        out["exported"] = pairs.export_jsonl(ws, args.export)
        lines.append(f"exported {out['exported']} pairs to {args.export}")
    out["counts"] = pairs.status_counts(ws)
    out["dropped_by_reason"] = pairs.drop_reasons(ws)
    lines.append(", ".join(f"{k} {v}" for k, v in out["counts"].items()))
    emit(args, out, "\n".join(lines))
    return 0
