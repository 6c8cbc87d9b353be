"""`embstudio export` (a run → ONNX fp32/int8 with parity checks) and `embstudio serve`."""

from __future__ import annotations

import argparse

from core.cli.output import add_common, emit, open_workspace, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run's model to ONNX (fp32, optionally int8)")
    add_common(p)
    p.add_argument("--run", required=True, help="run id (see `embstudio jobs WS`)")
    p.add_argument("--int8", action="store_true", help="also write a dynamic-int8 graph")
    p.add_argument("--texts", type=int, default=64, help="texts for the parity check")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve a model folder as an OpenAI-compatible embeddings API")
    p.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="an export (onnx/, onnx-int8/ or the "
        "whole export folder) or a sentence-transformers model folder",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (default: $EMBSTUDIO_API_KEY, else none)",
    )
    p.add_argument("--model-name", default=None, help="model id clients send (default: run id)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=None,
        help="inputs per request (default 2048, the OpenAI API's limit); memory stays bounded: "
        "inputs are embedded 32 at a time",
    )
    p.add_argument(
        "--max-input-tokens",
        type=int,
        default=None,
        help="tokens per input (default: the model's max sequence length)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_export(args: argparse.Namespace) -> int:
    from core.export.pipeline import export_run

    ws = open_workspace(args.workspace)
    info = export_run(
        ws,
        args.run,
        int8=args.int8,
        n_texts=args.texts,
        on_progress=lambda i, n, msg: progress(f"[{i}/{n}] {msg}"),
    )
    lines = [f"export written to {info['path']}"]
    for fmt, f in info["formats"].items():
        p = f["parity"]
        lines.append(
            f"  {fmt}: mean cosine {p['mean']:.5f} (min {p['min']:.4f}, n={p['n']}), "
            f"{info['speed_vs_torch'][fmt]:.2f}x torch speed, {f['size_mb']} MB"
        )
    if info.get("int8"):
        lines.append(f"int8: {info['int8']}")
    lines.append(f"zip: {info.get('zip')}")
    lines.append(f"serve: embstudio serve {info['path']}/onnx")
    emit(args, info, "\n".join(lines))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.serve import ServeSettings, resolve_api_key, serve

    key = resolve_api_key(args.api_key)
    settings = ServeSettings(max_input_tokens=args.max_input_tokens)
    if args.max_batch is not None:
        if args.max_batch < 1:
            raise ValueError("--max-batch must be at least 1")
        settings = replace(settings, max_batch=args.max_batch)
    progress(
        f"serving {args.model_dir} on http://{args.host}:{args.port}/v1"
        + (" (API key required)" if key else " (no API key)")
    )
    serve(
        args.model_dir,
        host=args.host,
        port=args.port,
        api_key=key,
        settings=settings,
        model_id=args.model_name,
    )
    return 0
