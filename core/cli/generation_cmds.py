"""`embstudio generate` (synthetic pairs, in-process) and `embstudio pairs` (review in bulk,
import, export)."""

from __future__ import annotations

import argparse

from core.cli.output import add_common, emit, open_workspace, progress


def register(sub: argparse._SubParsersAction) -> None:
    from core.generation.bundled_llms import CATALOGUE, DEFAULT_LOCAL_LLM
    from core.generation.filters import JUDGES
    from core.generation.kinds import kind_names
    from core.generation.pipeline import DEFAULT_KINDS
    from core.generation.provider_registry import (
        DEFAULT_API_KEY_ENV,
        DEFAULT_PROVIDER,
        get_provider,
        provider_names,
    )

    p = sub.add_parser("generate", help="write synthetic (question, chunk) pairs and filter them")
    add_common(p)
    p.add_argument(
        "--provider",
        choices=provider_names(),
        default=None,
        help="; ".join(f"{n}: {get_provider(n).help}" for n in provider_names())
        + f". Default: the workspace's Settings, else {DEFAULT_PROVIDER}. Naming a writer "
        "without --kinds adds simple questions to the default kinds",
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
        default=None,
        help="environment variable holding the API key (never stored; default: the "
        f"workspace's Settings, else {DEFAULT_API_KEY_ENV})",
    )
    p.add_argument(
        "--per-chunk",
        type=int,
        default=None,
        help="questions per chunk for every selected kind (default: the workspace's Settings, "
        "else per kind)",
    )
    p.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated, from {','.join(kind_names())} (default {','.join(DEFAULT_KINDS)})",
    )
    p.add_argument(
        "--limit-chunks",
        type=int,
        default=None,
        help="only the first N chunks (default: the workspace's Settings, else all)",
    )
    p.add_argument("--judge", choices=JUDGES, default=None, help="default auto")
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
    p.add_argument("--timeout", type=float, default=None, help="seconds per endpoint request (60)")
    p.add_argument("--concurrency", type=int, default=None, help="endpoint requests at once (4)")
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
    p.add_argument(
        "--import-questions",
        default=None,
        metavar="BEIR_DIR|F.jsonl",
        help="import real questions WITH their passages from documents other than the "
        "workspace's: a BEIR folder (every judged question-passage pair) or JSONL with "
        '{"question", "passage"} per line. They are accepted, train mixed with the workspace\'s '
        "pairs in every fit and are never evaluated",
    )
    p.add_argument(
        "--source",
        default=None,
        metavar="NAME",
        help="name of the imported collection, shown before training and in the model card "
        "(default: the folder's or file's name)",
    )
    p.add_argument(
        "--group",
        default=None,
        metavar="FIELD",
        help="with --import-questions: the passage field sorting passages into groups (a "
        "corpus.jsonl field, e.g. syllabus; a JSONL line's field)",
    )
    p.add_argument(
        "--only-groups",
        default=None,
        metavar="FILE",
        help="with --group: import only the passages of the groups named in FILE (one per line)",
    )
    p.add_argument(
        "--skip-groups",
        default=None,
        metavar="FILE",
        help="with --group: leave out the passages of the groups named in FILE (one per line), "
        "e.g. the documents you evaluate on",
    )
    p.add_argument(
        "--import-log",
        default=None,
        metavar="F.txt",
        help="import past questions about the workspace's own documents WITHOUT answers, one "
        "per line: each question's positive is the chunk the base model fused with keyword "
        "search finds first, kept only where it beats the next chunk clearly (fused score "
        "margin >= 0.25); the pairs are pending (to review) unless --accept",
    )
    p.add_argument(
        "--accept",
        action="store_true",
        help="with --import-log: accept the log's kept pairs at once",
    )
    p.add_argument(
        "--document",
        default=None,
        metavar="NAME",
        help="with --import-log: the log is about this document only (its file name); each "
        "question's chunk is searched among its chunks",
    )
    p.set_defaults(func=cmd_pairs)


def generate_settings(ws, args: argparse.Namespace):
    """The run `embstudio generate` asks for (core.commands.generate_settings)."""
    from core.commands import generate_settings as build

    return build(ws, args)


def cmd_generate(args: argparse.Namespace) -> int:
    from core.generation.pipeline import GenerationError, generate, progress_line

    ws = open_workspace(args.workspace)
    settings = generate_settings(ws, args)
    kinds = settings.kinds
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


def _import_questions(args: argparse.Namespace, ws) -> dict:
    from core.related_questions import import_questions, read_group_names

    return import_questions(
        ws,
        args.import_questions,
        source=args.source,
        group=args.group,
        only_groups=read_group_names(args.only_groups) if args.only_groups else None,
        skip_groups=read_group_names(args.skip_groups) if args.skip_groups else None,
    )


def cmd_pairs(args: argparse.Namespace) -> int:
    from core import pairs

    ws = open_workspace(args.workspace)
    out: dict = {"workspace": str(ws.root)}
    lines: list[str] = []
    if args.import_path:
        from core.beir_import import import_pairs

        result = import_pairs(ws, args.import_path)
        out["import"] = result
        lines.append(f"imported {result['imported']} pairs ({result['format']})")
        for problem in result.get("problems", [])[:3]:
            progress(problem)
    if args.import_questions:
        result = _import_questions(args, ws)
        out["import_questions"] = result
        lines.append(
            f"imported {result['imported']} question-passage pairs ({result['questions']} "
            f"questions) from {result['source']} ({result['format']}); skipped "
            f"{result['duplicates']} duplicates, {result['empty']} empty"
            + (f", left out {result['left_out']} by group" if args.group else "")
        )
        if result["unknown_groups"]:
            progress(
                f"{len(result['unknown_groups'])} named group(s) not found: "
                + "; ".join(result["unknown_groups"][:5])
            )
    elif args.group or args.only_groups or args.skip_groups or args.source:
        raise RuntimeError(
            "--source, --group, --only-groups, --skip-groups go with --import-questions"
        )
    if args.import_log:
        from core.question_log import describe, import_log

        def step(stage: str, done: int, total: int) -> None:
            progress(f"embedding {stage}: {done}/{total}")

        out["import_log"] = import_log(
            ws, args.import_log, accept=args.accept, document=args.document, on_progress=step
        )
        lines.append("question log " + describe(out["import_log"]))
    elif args.accept or args.document:
        raise RuntimeError(
            "--accept and --document go with --import-log (--accept-all accepts every pair)"
        )
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
