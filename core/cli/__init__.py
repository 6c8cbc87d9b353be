"""`embstudio`: the command line over the same engine the pages use (docs/ARCHITECTURE.md,
"Command contract").

Every command takes the workspace folder first, prints progress to stderr and, with `--json`,
one JSON object to stdout. Exit status 0 on success; otherwise non-zero with a one-line reason
on stderr and nothing on stdout. Each command lives in its own module listed in
`COMMAND_MODULES`, which exposes `register(subparsers)` adding a parser whose `func(args) -> int`
runs it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = [
    "core.cli.workspace_cmds",
    "core.cli.generation_cmds",
    "core.cli.training_cmds",
    "core.cli.evaluation_cmds",
    "core.cli.export_cmds",
    "core.cli.auto_cmds",
]


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embstudio",
        description="Domain Embedding Studio: documents in, a fine-tuned embedding model out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        # Every group is part of the product: a missing or renamed one is an error, not a
        # command that quietly disappears from `embstudio --help`.
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("embstudio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("EMBSTUDIO_DEBUG"):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"embstudio {args.command}: error: {reason}", file=sys.stderr)
        return 1
