"""Real questions from a related collection, imported with their own passages (issue 24).

A user often holds real questions about documents other than the workspace's: last year's
syllabi, an FAQ, a search log with the clicked page. They teach the model how users ask, so
they train mixed with the workspace's own pairs, but their passages are not workspace chunks:
each becomes a pair with no positive chunk, its passage in `pairs.positive_text` and the
collection's name in `pairs.source`. Such a pair is accepted (the question is real), sits in
the train split, and is never evaluated, mined or round-tripped: those read positives from
`pair_positives`, which it has none of. Training reads it in every fit (core/training/data.py).

Two formats:
- a BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv): one pair per judged
  (question, passage) with relevance > 0, over every qrels file present;
- a JSONL file, one {"question" or "query", "passage" or "text"} object per line.

`group` names a field of a passage (a corpus row's, top level or under "metadata"; a JSONL
line's) that sorts passages into groups, e.g. syllabusqa's `syllabus`; `only_groups` /
`skip_groups` keep or leave out the pairs whose passage is in the named groups.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.beir_data import _open_jsonl, doc_text, load_qrels
from core.pairs import CURATED, PairError, insert_pair
from core.store import Workspace

KIND = "real"


def read_group_names(path: str | Path) -> list[str]:
    """Group names from a text file, one per line (blank lines and surrounding spaces ignored)."""
    path = Path(path)
    if not path.is_file():
        raise PairError(f"{path} is not a file of group names (one per line)")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _field(row: dict, name: str) -> str | None:
    value = row.get(name)
    if value is None and isinstance(row.get("metadata"), dict):
        value = row["metadata"].get(name)
    return None if value is None else str(value)


def _beir_rows(folder: Path, group: str | None) -> Iterator[tuple[str, str, str | None]]:
    """(question, passage, group) of every judged pair with relevance > 0, qrels files in
    name order, rows in file order."""
    passages: dict[str, tuple[str, str | None]] = {}
    with _open_jsonl(folder / "corpus.jsonl") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                doc = {"title": row.get("title") or "", "text": row.get("text") or ""}
                passages[str(row["_id"])] = (doc_text(doc), _field(row, group) if group else None)
    with _open_jsonl(folder / "queries.jsonl") as f:
        queries = {
            str(r["_id"]): str(r.get("text") or "") for r in map(json.loads, filter(str.strip, f))
        }
    files = sorted((folder / "qrels").glob("*.tsv"))
    if not files:
        raise PairError(f"{folder} has no qrels/*.tsv: not a BEIR folder")
    for qrels_file in files:
        for qid, rels in load_qrels(folder, qrels_file.stem).items():
            for doc_id, relevance in rels.items():
                if relevance > 0 and qid in queries and doc_id in passages:
                    text, name = passages[doc_id]
                    yield queries[qid], text, name


def _jsonl_rows(path: Path, group: str | None) -> Iterator[tuple[str, str, str | None]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PairError(f"{path.name} line {lineno}: not JSON ({exc.msg})") from exc
            if not isinstance(rec, dict):
                raise PairError(f"{path.name} line {lineno}: not a JSON object")
            question = rec.get("question", rec.get("query"))
            passage = rec.get("passage", rec.get("text"))
            yield (
                "" if question is None else str(question),
                "" if passage is None else str(passage),
                _field(rec, group) if group else None,
            )


def import_questions(
    ws: Workspace,
    path: str | Path,
    *,
    source: str | None = None,
    group: str | None = None,
    only_groups: Iterable[str] | None = None,
    skip_groups: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Import real questions with their passages from a BEIR folder or a JSONL file (see the
    module docstring). `source` names the collection (default: the folder's or file's name).
    Skips empty questions or passages and pairs already imported (same question and passage).
    Returns counts: imported, questions (distinct), duplicates, empty, left_out (by the group
    filter), groups (kept), unknown_groups (named but never seen), source, format."""
    path = Path(path)
    if (only_groups is not None or skip_groups is not None) and not group:
        raise PairError("--only-groups / --skip-groups need --group FIELD (the passage field)")
    if path.is_dir():
        if not any((path / n).is_file() for n in ("corpus.jsonl", "corpus.jsonl.gz")):
            raise PairError(f"{path} is not a BEIR folder (no corpus.jsonl)")
        fmt, rows = "beir", _beir_rows(path, group)
        name = source or path.name
    elif path.is_file():
        fmt, rows = "jsonl", _jsonl_rows(path, group)
        name = source or path.stem
    else:
        raise PairError(f"{path} is neither a BEIR folder nor a JSONL file")
    name = " ".join(str(name).split())
    if not name:
        raise PairError("the source name cannot be empty")
    only = None if only_groups is None else set(only_groups)
    skip = set(skip_groups or ())
    seen_groups: set[str] = set()
    kept_groups: set[str] = set()
    counts: Counter[str] = Counter()
    questions: set[str] = set()
    with ws.transaction() as conn:
        existing = {
            (r["query"], r["positive_text"])
            for r in conn.execute("SELECT query, positive_text FROM pairs WHERE source IS NOT NULL")
        }
        for question, passage, group_name in rows:
            if group_name is not None:
                seen_groups.add(group_name)
            if (only is not None and group_name not in only) or (group_name in skip):
                counts["left_out"] += 1
                continue
            question = " ".join(question.split())
            passage = passage.strip()
            if not question or not passage:
                counts["empty"] += 1
                continue
            if (question, passage) in existing:
                counts["duplicates"] += 1
                continue
            existing.add((question, passage))
            insert_pair(
                conn,
                question,
                [],
                kind=KIND,
                origin=f"questions:{name}",
                status="accepted",
                reason=f"real question imported from {name}",
                split="train",
                positive_text=passage,
                source=name,
            )
            counts["imported"] += 1
            questions.add(question)
            if group_name is not None:
                kept_groups.add(group_name)
        if group and not seen_groups:  # raised inside the transaction: nothing is kept
            raise PairError(f"no passage of {path.name} has a field {group!r}")
    named = (only or set()) | skip
    return {
        "source": name,
        "format": fmt,
        "imported": counts["imported"],
        "questions": len(questions),
        "duplicates": counts["duplicates"],
        "empty": counts["empty"],
        "left_out": counts["left_out"],
        "groups": len(kept_groups),
        "unknown_groups": sorted(named - seen_groups),
    }


def imported_by_source(ws: Workspace) -> dict[str, dict[str, int]]:
    """source → {"pairs", "questions"} of its curated imported pairs (what every fit trains
    on; a question judged against several passages is one pair per passage), by source."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT source, COUNT(*) AS pairs, COUNT(DISTINCT query) AS questions FROM pairs"
            f" WHERE source IS NOT NULL AND status IN {CURATED!r} GROUP BY source ORDER BY source"
        ).fetchall()
    return {r["source"]: {"pairs": int(r["pairs"]), "questions": int(r["questions"])} for r in rows}


def describe_sources(by_source: dict[str, dict[str, int]]) -> str:
    """ "1204 imported pairs (873 questions) from syllabusqa-train"; several sources are
    named with their own pair counts."""
    pairs = sum(v["pairs"] for v in by_source.values())
    questions = sum(v["questions"] for v in by_source.values())
    if len(by_source) == 1:
        names = next(iter(by_source))
    else:
        names = ", ".join(f"{s} ({v['pairs']})" for s, v in by_source.items())
    return f"{pairs} imported pairs ({questions} real questions) from {names}"
