"""`embstudio init`, `embstudio ingest`, `embstudio documents`, `embstudio demo`."""

from __future__ import annotations

import argparse

from core.chunking import ChunkingSettings
from core.cli.output import add_common, emit, open_workspace, progress
from core.ingest import DEFAULT_MAX_FILE_MB, ingest_paths
from core.store import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a workspace folder")
    add_common(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("ingest", help="add documents (files or folders) and chunk them")
    add_common(p)
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("--chunking", choices=["fixed", "headings"], default="fixed")
    p.add_argument("--chunk-words", type=int, default=300, help="words per fixed window")
    p.add_argument("--overlap", type=int, default=50, help="words shared by adjacent windows")
    p.add_argument("--model", default=None, help="model whose token limit caps chunks")
    p.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_MB)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "documents",
        help="list the documents; --delete ID removes one with its pairs and negatives",
    )
    add_common(p)
    p.add_argument(
        "--delete",
        type=int,
        metavar="ID",
        help="delete this document, its chunks, the pairs left without a positive and their "
        "negatives (prints what would go and exits 1 unless --yes)",
    )
    p.add_argument("--yes", action="store_true", help="confirm --delete")
    p.set_defaults(func=cmd_documents)

    p = sub.add_parser("demo", help="create the demo workspace from the bundled samples")
    add_common(p)
    p.add_argument(
        "--auto",
        action="store_true",
        help="when the workspace is new, start the whole pipeline on it (`embstudio auto`): "
        "the first run of the app shows base vs tuned a few minutes later",
    )
    p.set_defaults(func=cmd_demo)


def cmd_init(args: argparse.Namespace) -> int:
    ws = Workspace.create(args.workspace)
    emit(args, {"workspace": str(ws.root)}, f"workspace ready at {ws.root}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from core.settings import defaults_for

    ws = open_workspace(args.workspace)
    settings = ChunkingSettings(
        mode=args.chunking, chunk_words=args.chunk_words, overlap_words=args.overlap
    )
    settings.validate()
    results = ingest_paths(
        ws,
        args.paths,
        settings,
        model_name=args.model or defaults_for(ws).base_model,
        max_file_mb=args.max_file_mb,
        on_progress=lambda i, n, name: progress(f"[{i}/{n}] {name}"),
    )
    ok = [r for r in results if r.status != "error"]
    lines = [
        f"{r.file}: {r.status}"
        + (f" ({r.chunks} chunks)" if r.chunks else "")
        + (f" — {r.error}" if r.error else "")
        for r in results
    ]
    emit(
        args,
        {
            "workspace": str(ws.root),
            "results": [r.to_dict() for r in results],
            "ingested": sum(r.status == "ingested" for r in results),
            "duplicates": sum(r.status == "duplicate" for r in results),
            "errors": sum(r.status == "error" for r in results),
            "chunks": sum(r.chunks for r in results),
        },
        "\n".join(lines),
    )
    return 0 if ok else 1


def cmd_documents(args: argparse.Namespace) -> int:
    from core.cli import CliError
    from core.documents import delete_document, deletion_impact, list_documents

    ws = open_workspace(args.workspace)
    if args.delete is None:
        docs = list_documents(ws)
        rows = [
            {"id": d.id, "name": d.name, "chunks": d.n_chunks, "pairs": d.n_pairs} for d in docs
        ]
        lines = [f"{r['id']:>5}  {r['chunks']:>6}  {r['pairs']:>6}  {r['name']}" for r in rows]
        human = "\n".join([f"{'id':>5}  {'chunks':>6}  {'pairs':>6}  name", *lines])
        emit(
            args, {"workspace": str(ws.root), "documents": rows}, human if rows else "no documents"
        )
        return 0
    if not args.yes:
        impact = deletion_impact(ws, args.delete)
        if impact is None:
            raise CliError(f"no document {args.delete} in this workspace")
        emit(
            args,
            {"workspace": str(ws.root), "deleted": False, "would_remove": impact.to_dict()},
            f"would delete {impact.summary()}",
        )
        progress("nothing deleted: add --yes to delete it")
        return 1
    removed = delete_document(ws, args.delete)
    if removed is None:
        raise CliError(f"no document {args.delete} in this workspace")
    emit(
        args,
        {"workspace": str(ws.root), "deleted": True, "removed": removed.to_dict()},
        f"deleted {removed.summary(done=True)}",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import build_demo_workspace

    ws, created = build_demo_workspace(args.workspace, on_progress=progress)
    out = {"workspace": str(ws.root), "created": created, **ws.counts(), "auto_job": None}
    text = f"demo workspace {'created' if created else 'ready'} at {ws.root}"
    if args.auto and created:
        from core.auto import start_auto

        out["auto_job"] = start_auto(ws)
        text += (
            f"\nthe whole pipeline runs in the background (job {out['auto_job']}): Home shows "
            "its progress, the Evaluate page its result"
        )
    emit(args, out, text)
    return 0
