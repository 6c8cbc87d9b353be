"""Example questions from the user, shown to every LLM writer (issue 14, item 1).

Promptagator (arXiv 2209.11755) found a handful of example questions in the prompt worth many
labelled pairs: they show the writer what users of these documents ask. Up to `MAX_EXAMPLES`
questions are stored per workspace in `examples.json`; each LLM prompt (local or endpoint) gets
them through the `examples` template. They are prompt text only: never stored as pairs, and a
written question that repeats one is dropped as junk.

A file of examples is one question per line, or JSONL whose rows hold a "query" or "question"
(a pairs export works as it is).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core.store import Workspace

MAX_EXAMPLES = 8
MAX_EXAMPLE_CHARS = 300


class ExamplesError(ValueError):
    """Examples that cannot be used (the message says why)."""


def clean_examples(questions: Sequence[str]) -> list[str]:
    """Stripped, de-duplicated, non-empty questions; ExamplesError past MAX_EXAMPLES or when
    one is too long to be a question."""
    out: list[str] = []
    for q in questions:
        text = " ".join(str(q).split())
        if text and text not in out:
            out.append(text)
    if len(out) > MAX_EXAMPLES:
        raise ExamplesError(f"{len(out)} example questions; at most {MAX_EXAMPLES} go in a prompt")
    long = [q for q in out if len(q) > MAX_EXAMPLE_CHARS]
    if long:
        raise ExamplesError(
            f"an example has {len(long[0])} characters; a question has at most "
            f"{MAX_EXAMPLE_CHARS}: {long[0][:60]!r}…"
        )
    return out


def read_examples_file(path: str | Path) -> list[str]:
    """Questions from a text file (one per line) or a JSONL file ("query"/"question")."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ExamplesError(f"cannot read examples from {path}: {exc}") from exc
    if lines and lines[0].lstrip().startswith("{"):
        questions = []
        for n, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
                questions.append(str(row.get("query") or row.get("question") or ""))
            except (json.JSONDecodeError, AttributeError) as exc:
                raise ExamplesError(f"{path} line {n} is not a JSON object") from exc
        lines = questions
    return clean_examples(lines)


def load_examples(ws: Workspace) -> list[str]:
    """The workspace's example questions (none when never saved or unreadable)."""
    try:
        data = json.loads(ws.examples_file.read_text())
        return clean_examples(data.get("questions", []))
    except (OSError, ValueError, AttributeError):
        return []


def save_examples(ws: Workspace, questions: Sequence[str]) -> list[str]:
    """Validate and store the workspace's example questions (an empty list clears them)."""
    cleaned = clean_examples(questions)
    path = ws.examples_file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"questions": cleaned}, indent=2))
    tmp.replace(path)
    return cleaned


def examples_block(questions: Sequence[str]) -> str:
    """The lines put in a prompt's {examples} placeholder ("" when there are none)."""
    if not questions:
        return ""
    listed = "\n".join(f"- {q}" for q in questions)
    return (
        "Questions that real readers of documents like this one asked (match their style and "
        f"length, but ask about the passage above):\n{listed}\n"
    )
