"""Output conventions shared by every command: JSON to stdout, progress to stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.store import Workspace, WorkspaceError


def add_common(parser: argparse.ArgumentParser, workspace: bool = True) -> None:
    if workspace:
        parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")


def open_workspace(path: str) -> Workspace:
    try:
        return Workspace.open(path)
    except WorkspaceError as exc:
        raise SystemExit(_fail(str(exc))) from exc


def _fail(msg: str) -> int:
    print(f"embstudio: error: {msg}", file=sys.stderr)
    return 1


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    """The command's result: JSON on stdout with --json, else the human summary."""
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str))
    else:
        print(human)


def follow(ws: Workspace, job_id: str, poll_s: float) -> dict[str, Any]:
    """Wait for the job, printing each new progress message to stderr; returns its row."""
    from core.jobs import wait_job

    last = [""]

    def show(job: dict[str, Any]) -> None:
        if job["message"] and job["message"] != last[0]:
            last[0] = job["message"]
            progress(job["message"])

    return wait_job(ws, job_id, poll_s=poll_s, on_update=show)
