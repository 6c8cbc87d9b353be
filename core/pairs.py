"""The pair store: list, inspect, edit, accept/reject, add manual pairs, import and export.

Review status: pending (kept by the filters, not reviewed), accepted, edited (question changed by
a person; counts as curated), rejected, dropped (removed by a filter; `reason` says which).
Curated pairs = status IN ('accepted', 'edited'). Every change bumps the pair's `version` and
writes a pair_edits row (field, old, new, time). Edits check the version the editor saw
(optimistic concurrency): a pair changed since is refused with StaleEditError.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.splits import chunk_splits
from core.store import Workspace, now_iso

STATUSES = ("pending", "accepted", "edited", "rejected", "dropped")
CURATED = ("accepted", "edited")
REVIEWABLE = ("pending", "accepted", "edited", "rejected")  # what a reviewer may set/see


class PairError(Exception):
    """A pair operation is refused (the message says why)."""


class StaleEditError(PairError):
    """The pair changed since the editor read it (its version moved on)."""


_LIST_SQL = """
SELECT p.id, p.query, p.original_query, p.kind, p.origin, p.status, p.reason,
       p.judge_relevance, p.judge_accuracy, p.judge_clarity, p.judge_score, p.roundtrip_rank,
       p.split, p.version, p.created_at, p.updated_at, p.source,
       (SELECT COUNT(*) FROM pair_positives pp WHERE pp.pair_id = p.id) AS n_positives,
       (SELECT MIN(pp.chunk_id) FROM pair_positives pp WHERE pp.pair_id = p.id) AS chunk_id,
       (SELECT d.name FROM pair_positives pp JOIN chunks c ON c.id = pp.chunk_id
          JOIN documents d ON d.id = c.document_id WHERE pp.pair_id = p.id
          ORDER BY pp.chunk_id LIMIT 1) AS document
FROM pairs p
"""


def list_pairs(
    ws: Workspace,
    kind: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    min_score: float | None = None,
    document_id: int | None = None,
    split: str | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Pairs as dicts, newest last, filtered by kind(s), status(es), judge score at least
    `min_score`, a document among the positives, split, or text in the question."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("p.kind", kind), ("p.status", status)):
        if value:
            values = [value] if isinstance(value, str) else list(value)
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            args += values
    if min_score is not None:
        where.append("p.judge_score >= ?")
        args.append(min_score)
    if document_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM pair_positives pp JOIN chunks c ON c.id = pp.chunk_id"
            " WHERE pp.pair_id = p.id AND c.document_id = ?)"
        )
        args.append(document_id)
    if split:
        where.append("p.split = ?")
        args.append(split)
    if search:
        where.append("p.query LIKE ?")
        args.append(f"%{search}%")
    sql = _LIST_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.id"
    if limit:
        sql += " LIMIT ?"
        args.append(int(limit))
    with ws.connect() as conn:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]


def get_pair(ws: Workspace, pair_id: int) -> dict[str, Any]:
    """One pair with `positives` (chunk id, document, ord, heading_path, text) and `edits`."""
    with ws.connect() as conn:
        row = conn.execute(_LIST_SQL + " WHERE p.id = ?", (pair_id,)).fetchone()
        if row is None:
            raise PairError(f"no pair {pair_id}")
        out = dict(row)
        out["positive_text"] = conn.execute(
            "SELECT positive_text FROM pairs WHERE id = ?", (pair_id,)
        ).fetchone()[0]
        out["positives"] = [
            dict(r)
            for r in conn.execute(
                "SELECT c.id AS chunk_id, d.name AS document, c.document_id, c.ord,"
                " c.heading_path, c.text FROM pair_positives pp JOIN chunks c ON c.id = pp.chunk_id"
                " JOIN documents d ON d.id = c.document_id WHERE pp.pair_id = ? ORDER BY c.id",
                (pair_id,),
            )
        ]
        out["edits"] = [
            dict(r)
            for r in conn.execute(
                "SELECT field, old, new, at FROM pair_edits WHERE pair_id = ? ORDER BY id",
                (pair_id,),
            )
        ]
    return out


def _check_version(conn: sqlite3.Connection, pair_id: int, expected: int | None) -> sqlite3.Row:
    row = conn.execute(
        "SELECT id, query, status, version FROM pairs WHERE id = ?", (pair_id,)
    ).fetchone()
    if row is None:
        raise PairError(f"no pair {pair_id}")
    if expected is not None and row["version"] != expected:
        raise StaleEditError(
            f"pair {pair_id} was changed by someone else (version {row['version']}, "
            f"you edited version {expected}); reload and try again"
        )
    return row


def _log(conn: sqlite3.Connection, pair_id: int, field: str, old: Any, new: Any, at: str) -> None:
    conn.execute(
        "INSERT INTO pair_edits (pair_id, field, old, new, at) VALUES (?, ?, ?, ?, ?)",
        (pair_id, field, None if old is None else str(old), None if new is None else str(new), at),
    )


def edit_question(
    ws: Workspace, pair_id: int, query: str, expected_version: int | None
) -> dict[str, Any]:
    """Change a pair's question; its status becomes 'edited' (curated). Refused when the pair's
    version is not `expected_version` (None skips the check: scripts that own the workspace)."""
    query = " ".join(query.split())
    if not query:
        raise PairError("the question cannot be empty")
    with ws.transaction() as conn:
        row = _check_version(conn, pair_id, expected_version)
        if row["query"] == query:
            return {"id": pair_id, "version": row["version"], "changed": False}
        at = now_iso()
        _log(conn, pair_id, "query", row["query"], query, at)
        if row["status"] != "edited":
            _log(conn, pair_id, "status", row["status"], "edited", at)
        conn.execute(
            "UPDATE pairs SET query = ?, status = 'edited', version = version + 1,"
            " updated_at = ? WHERE id = ?",
            (query, at, pair_id),
        )
    return {"id": pair_id, "version": row["version"] + 1, "changed": True}


def set_status(
    ws: Workspace,
    pair_ids: Iterable[int],
    status: str,
    expected_versions: dict[int, int] | None = None,
) -> int:
    """Set the status of many pairs in one transaction (all or none); returns how many changed.
    `expected_versions` (pair id → version seen) refuses the whole change if one is stale."""
    if status not in REVIEWABLE:
        raise PairError(f"status must be one of {', '.join(REVIEWABLE)}")
    ids = list(dict.fromkeys(int(i) for i in pair_ids))
    changed = 0
    with ws.transaction() as conn:
        at = now_iso()
        for pid in ids:
            row = _check_version(conn, pid, (expected_versions or {}).get(pid))
            if row["status"] == status:
                continue
            _log(conn, pid, "status", row["status"], status, at)
            conn.execute(
                "UPDATE pairs SET status = ?, version = version + 1, updated_at = ? WHERE id = ?",
                (status, at, pid),
            )
            changed += 1
    return changed


def accept(ws: Workspace, pair_ids: Iterable[int], **kw: Any) -> int:
    return set_status(ws, pair_ids, "accepted", **kw)


def reject(ws: Workspace, pair_ids: Iterable[int], **kw: Any) -> int:
    return set_status(ws, pair_ids, "rejected", **kw)


def accept_min_score(ws: Workspace, min_score: float, kind: str | None = None) -> int:
    """Accept every pending pair whose judge score is at least `min_score` (1-5)."""
    ids = [p["id"] for p in list_pairs(ws, kind=kind, status="pending", min_score=min_score)]
    return set_status(ws, ids, "accepted")


def accept_all(ws: Workspace, kind: str | None = None) -> int:
    """Accept every pending pair (the filters' kept pairs); dropped ones stay dropped."""
    ids = [p["id"] for p in list_pairs(ws, kind=kind, status="pending")]
    return set_status(ws, ids, "accepted")


def add_manual_pair(
    ws: Workspace, query: str, chunk_ids: Sequence[int], status: str = "accepted"
) -> int:
    """A person's own (question, positive chunks) pair; its split is its lowest chunk's
    (core.splits.chunk_splits). Returns the new pair id."""
    query = " ".join(query.split())
    if not query:
        raise PairError("the question cannot be empty")
    ids = list(dict.fromkeys(int(c) for c in chunk_ids))
    if not ids:
        raise PairError("pick at least one chunk that answers the question")
    with ws.transaction() as conn:
        split_of = chunk_splits(conn)
        missing = sorted(set(ids) - set(split_of))
        if missing:
            raise PairError(f"no chunk(s) {missing}")
        split = split_of[min(ids)]
        return insert_pair(
            conn,
            query,
            ids,
            kind="manual",
            origin="manual",
            status=status,
            reason="written by a person",
            split=split,
        )


def insert_pair(
    conn: sqlite3.Connection,
    query: str,
    chunk_ids: Sequence[int],
    *,
    kind: str,
    origin: str,
    status: str,
    reason: str,
    split: str,
    original_query: str | None = None,
    judge: dict[str, Any] | None = None,
    roundtrip_rank: int | None = None,
    positive_text: str | None = None,
    source: str | None = None,
) -> int:
    """Store one pair and its positive chunks in `conn`'s transaction; the one writer of the
    pairs table (generation, manual pairs, JSONL and BEIR imports, related questions). `judge`
    holds relevance, accuracy, clarity (1-5) and their mean as score. `source` names the
    collection of a question imported with its own passage (`positive_text`, no chunk; see
    core/related_questions.py). Returns the pair id."""
    now = now_iso()
    j = judge or {}
    cur = conn.execute(
        "INSERT INTO pairs (query, original_query, kind, origin, status, reason, judge_relevance,"
        " judge_accuracy, judge_clarity, judge_score, roundtrip_rank, split, positive_text,"
        " source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            query,
            original_query or query,
            kind,
            origin,
            status,
            reason,
            j.get("relevance"),
            j.get("accuracy"),
            j.get("clarity"),
            j.get("score"),
            roundtrip_rank,
            split,
            positive_text,
            source,
            now,
            now,
        ),
    )
    pair_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT OR IGNORE INTO pair_positives (pair_id, chunk_id) VALUES (?, ?)",
        [(pair_id, c) for c in chunk_ids],
    )
    return pair_id


# ---------------------------------------------------------------------------- JSONL


def export_jsonl(ws: Workspace, path: str | Path, status: str | Sequence[str] | None = None) -> int:
    """Write pairs (all, or those with the given status) as JSON lines; returns the count.
    Each line carries the question, its review fields and its positives' text, so it can be
    imported into another workspace holding the same documents."""
    rows = list_pairs(ws, status=status)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            full = get_pair(ws, row["id"])
            record = {
                "id": row["id"],
                "query": row["query"],
                "original_query": row["original_query"],
                "kind": row["kind"],
                "origin": row["origin"],
                "status": row["status"],
                "reason": row["reason"],
                "judge": {
                    "relevance": row["judge_relevance"],
                    "accuracy": row["judge_accuracy"],
                    "clarity": row["judge_clarity"],
                    "score": row["judge_score"],
                },
                "roundtrip_rank": row["roundtrip_rank"],
                "split": row["split"],
                "positive_text": full["positive_text"],
                "positives": [
                    {
                        "chunk_id": p["chunk_id"],
                        "document": p["document"],
                        "ord": p["ord"],
                        "text": p["text"],
                    }
                    for p in full["positives"]
                ],
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(rows)


def import_jsonl(ws: Workspace, path: str | Path, default_status: str = "accepted") -> dict:
    """Import pairs from JSON lines. A line needs "query" and "positives": a list of chunk ids
    or of objects matched to this workspace's chunks by exact "text", else by ("document",
    "ord"), else by "chunk_id". Lines already present (same question and positives) and lines
    whose positives match no chunk are skipped. Returns counts and the first problems."""
    path = Path(path)
    if not path.is_file():
        raise PairError(f"{path} is not a file")
    imported = skipped = duplicates = 0
    problems: list[str] = []
    with ws.transaction() as conn:
        by_text = {r["text"]: r["id"] for r in conn.execute("SELECT id, text FROM chunks")}
        by_pos = {
            (r["name"], r["ord"]): r["id"]
            for r in conn.execute(
                "SELECT c.id, d.name, c.ord FROM chunks c JOIN documents d ON d.id = c.document_id"
            )
        }
        existing = {
            (r["query"], r["ids"])
            for r in conn.execute(
                "SELECT p.query, (SELECT group_concat(chunk_id) FROM (SELECT chunk_id FROM"
                " pair_positives WHERE pair_id = p.id ORDER BY chunk_id)) AS ids FROM pairs p"
            )
        }
        split_of = chunk_splits(conn)
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    query = " ".join(str(rec["query"]).split())
                    raw = rec.get("positives") or rec.get("positive_chunk_ids") or []
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    skipped += 1
                    if len(problems) < 5:
                        problems.append(f"line {lineno}: not a pair ({exc.__class__.__name__})")
                    continue
                ids = []
                for pos in raw:
                    cid = None
                    if isinstance(pos, int):
                        cid = pos if pos in split_of else None
                    elif isinstance(pos, dict):
                        cid = by_text.get(pos.get("text") or "") or by_pos.get(
                            (pos.get("document"), pos.get("ord"))
                        )
                        if cid is None and pos.get("chunk_id") in split_of:
                            cid = pos["chunk_id"]
                    if cid is not None:
                        ids.append(cid)
                ids = sorted(set(ids))
                if not query or not ids:
                    skipped += 1
                    if len(problems) < 5:
                        problems.append(f"line {lineno}: no positive matches a chunk here")
                    continue
                key = (query, ",".join(map(str, ids)))
                if key in existing:
                    duplicates += 1
                    continue
                existing.add(key)
                status = rec.get("status") if rec.get("status") in STATUSES else default_status
                judge = rec.get("judge") if isinstance(rec.get("judge"), dict) else None
                insert_pair(
                    conn,
                    query,
                    ids,
                    kind=str(rec.get("kind") or "imported"),
                    origin=f"import:{path.name}",
                    status=status,
                    reason=str(rec.get("reason") or "imported"),
                    split=split_of[ids[0]],
                    original_query=rec.get("original_query"),
                    judge=judge,
                    roundtrip_rank=rec.get("roundtrip_rank"),
                    positive_text=rec.get("positive_text"),
                )
                imported += 1
    return {
        "imported": imported,
        "skipped": skipped,
        "duplicates": duplicates,
        "problems": problems,
    }


def status_counts(ws: Workspace) -> dict[str, int]:
    with ws.connect() as conn:
        counts = {s: 0 for s in STATUSES}
        for r in conn.execute("SELECT status, COUNT(*) AS n FROM pairs GROUP BY status"):
            counts[r["status"]] = r["n"]
    return counts


def drop_reasons(ws: Workspace) -> dict[str, int]:
    """Dropped pairs counted by filter (the reason's prefix before ':')."""
    with ws.connect() as conn:
        rows = conn.execute("SELECT reason FROM pairs WHERE status = 'dropped'").fetchall()
    out: dict[str, int] = {}
    for r in rows:
        key = (r["reason"] or "unknown").split(":", 1)[0]
        out[key] = out.get(key, 0) + 1
    return out
