"""Documents and chunks in the workspace database: add, list, delete, rechunk."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from core.chunking import Chunk
from core.runs import mark_trained_on_deleted, runs_created_since
from core.store import Workspace, now_iso


@dataclass(frozen=True)
class DocumentRow:
    id: int
    name: str
    stored_path: str
    sha256: str
    format: str
    size_bytes: int
    n_chars: int
    n_chunks: int
    split: str | None
    created_at: str
    n_pairs: int = 0  # pairs with a positive among its chunks


def find_by_hash(conn: sqlite3.Connection, sha256: str) -> int | None:
    row = conn.execute("SELECT id FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else int(row["id"])


def insert_document(
    conn: sqlite3.Connection,
    *,
    name: str,
    stored_path: str,
    sha256: str,
    fmt: str,
    size_bytes: int,
    text: str,
) -> int:
    cur = conn.execute(
        "INSERT INTO documents (name, stored_path, sha256, format, size_bytes, text, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, stored_path, sha256, fmt, size_bytes, text, now_iso()),
    )
    return int(cur.lastrowid or 0)


def insert_chunks(conn: sqlite3.Connection, document_id: int, chunks: list[Chunk]) -> None:
    conn.executemany(
        "INSERT INTO chunks (document_id, ord, text, heading_path, start_char, end_char, n_tokens)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (document_id, c.ord, c.text, c.heading_path, c.start_char, c.end_char, c.n_tokens)
            for c in chunks
        ],
    )


def list_documents(ws: Workspace) -> list[DocumentRow]:
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT d.id, d.name, d.stored_path, d.sha256, d.format, d.size_bytes,"
            " length(d.text) AS n_chars, d.split, d.created_at,"
            " (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS n_chunks,"
            " (SELECT COUNT(DISTINCT pp.pair_id) FROM pair_positives pp JOIN chunks c"
            " ON c.id = pp.chunk_id WHERE c.document_id = d.id) AS n_pairs"
            " FROM documents d ORDER BY d.id"
        ).fetchall()
    return [
        DocumentRow(
            id=r["id"],
            name=r["name"],
            stored_path=r["stored_path"],
            sha256=r["sha256"],
            format=r["format"],
            size_bytes=r["size_bytes"],
            n_chars=r["n_chars"],
            n_chunks=r["n_chunks"],
            split=r["split"],
            created_at=r["created_at"],
            n_pairs=r["n_pairs"],
        )
        for r in rows
    ]


def document_text(ws: Workspace, document_id: int) -> str:
    with ws.connect() as conn:
        row = conn.execute("SELECT text FROM documents WHERE id = ?", (document_id,)).fetchone()
    if row is None:
        raise KeyError(f"no document {document_id}")
    return str(row["text"])


def list_chunks(ws: Workspace, document_id: int | None = None) -> list[dict]:
    """Chunks as plain dicts (id, document_id, document, ord, text, heading_path, offsets, tokens)."""
    sql = (
        "SELECT c.id, c.document_id, d.name AS document, c.ord, c.text, c.heading_path,"
        " c.start_char, c.end_char, c.n_tokens FROM chunks c JOIN documents d"
        " ON d.id = c.document_id"
    )
    params: tuple = ()
    if document_id is not None:
        sql += " WHERE c.document_id = ?"
        params = (document_id,)
    sql += " ORDER BY c.document_id, c.ord"
    with ws.connect() as conn:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]


@dataclass(frozen=True)
class DeletionImpact:
    """What deleting one document removes (or removed), counted before the delete.

    chunks: its chunks. pairs: pairs whose every positive is one of them (deleted whole).
    positives: links of pairs that keep another positive to these chunks (dropped, the pair
    stays). negatives: mined negatives that are one of its chunks or belong to a deleted pair.
    false_negatives: flags on its chunks or on deleted pairs. runs: ids of the runs recorded
    since its first pair or mined negative (they may have trained on it): marked, never
    deleted.
    """

    document_id: int
    name: str
    chunks: int
    pairs: int
    positives: int
    negatives: int
    false_negatives: int
    runs: tuple[str, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "runs": list(self.runs)}

    def summary(self, done: bool = False) -> str:
        """One line for a person: what goes (went, when `done`), which runs are marked."""
        parts = [
            _count(self.chunks, "chunk"),
            _count(self.pairs, "pair"),
            _count(self.negatives, "mined negative"),
        ]
        if self.positives:
            parts.append(_count(self.positives, "positive") + " of pairs that keep another one")
        if self.false_negatives:
            parts.append(_count(self.false_negatives, "false-negative flag"))
        text = f"{self.name} (#{self.document_id}): " + ", ".join(parts)
        if self.runs:
            text += (
                f"; {_count(len(self.runs), 'run')} made since may have trained on it "
                f"({', '.join(self.runs)}): {'marked' if done else 'they will be marked'} so, "
                "never deleted"
            )
        return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# Chunks of the document, pairs left without a positive once they go (the temp tables below).
_IMPACT_TABLES = (
    "CREATE TEMP TABLE doomed_chunks AS SELECT id FROM chunks WHERE document_id = ?",
    "CREATE TEMP TABLE doomed_pairs AS SELECT DISTINCT pp.pair_id AS id FROM pair_positives pp"
    " WHERE pp.chunk_id IN (SELECT id FROM doomed_chunks) AND NOT EXISTS (SELECT 1 FROM"
    " pair_positives o WHERE o.pair_id = pp.pair_id AND o.chunk_id NOT IN"
    " (SELECT id FROM doomed_chunks))",
)


def _impact(conn: sqlite3.Connection, document_id: int) -> DeletionImpact | None:
    """Count what deleting the document removes; leaves the temp tables doomed_chunks and
    doomed_pairs on `conn` (dropped by `_drop_impact_tables`)."""
    doc = conn.execute("SELECT name FROM documents WHERE id = ?", (document_id,)).fetchone()
    if doc is None:
        return None
    _drop_impact_tables(conn)
    conn.execute(_IMPACT_TABLES[0], (document_id,))
    conn.execute(_IMPACT_TABLES[1])

    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    chunks = "(SELECT id FROM temp.doomed_chunks)"
    pairs = "(SELECT id FROM temp.doomed_pairs)"
    # The run side: since when could a run have trained on this document's data?
    since = conn.execute(
        "SELECT MIN(t) FROM (SELECT p.created_at AS t FROM pairs p JOIN pair_positives pp"
        f" ON pp.pair_id = p.id WHERE pp.chunk_id IN {chunks}"
        " UNION ALL SELECT m.created_at FROM minings m JOIN negatives n ON n.mining_id = m.id"
        f" WHERE n.chunk_id IN {chunks})"
    ).fetchone()[0]
    return DeletionImpact(
        document_id=document_id,
        name=str(doc["name"]),
        chunks=one(f"SELECT COUNT(*) FROM {chunks}"),
        pairs=one(f"SELECT COUNT(*) FROM {pairs}"),
        positives=one(
            f"SELECT COUNT(*) FROM pair_positives WHERE chunk_id IN {chunks}"
            f" AND pair_id NOT IN {pairs}"
        ),
        negatives=one(
            f"SELECT COUNT(*) FROM negatives WHERE chunk_id IN {chunks} OR pair_id IN {pairs}"
        ),
        false_negatives=one(
            f"SELECT COUNT(*) FROM false_negatives WHERE chunk_id IN {chunks} OR pair_id IN {pairs}"
        ),
        runs=tuple(runs_created_since(conn, since)) if since else (),
    )


def _drop_impact_tables(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.doomed_chunks")
    conn.execute("DROP TABLE IF EXISTS temp.doomed_pairs")


def deletion_impact(ws: Workspace, document_id: int) -> DeletionImpact | None:
    """What `delete_document` would remove now (None when there is no such document)."""
    with ws.connect() as conn:
        try:
            return _impact(conn, document_id)
        finally:
            _drop_impact_tables(conn)


def delete_document(ws: Workspace, document_id: int) -> DeletionImpact | None:
    """Delete a document with everything that stands on it, in one transaction: its chunks,
    the pairs left without a positive (with their edits, negatives and flags), the other
    pairs' links to its chunks, mined negatives and flags on its chunks; runs that may have
    trained on it are marked (`core.runs.trained_on_deleted`). Then its stored original
    goes. Returns what was removed, None when there was no such document. Embedding-cache
    entries stay (they are keyed by text)."""
    with ws.transaction() as conn:
        impact = _impact(conn, document_id)
        if impact is None:
            return None
        try:
            stored_path = conn.execute(
                "SELECT stored_path FROM documents WHERE id = ?", (document_id,)
            ).fetchone()["stored_path"]
            # A kept pair's own positive text may be cut from a chunk that goes: it falls back
            # to its remaining chunks' text.
            conn.execute(
                "UPDATE pairs SET positive_text = NULL WHERE positive_text IS NOT NULL AND id IN"
                " (SELECT pair_id FROM pair_positives WHERE chunk_id IN"
                " (SELECT id FROM temp.doomed_chunks))"
            )
            conn.execute("DELETE FROM pairs WHERE id IN (SELECT id FROM temp.doomed_pairs)")
            # Chunks cascade to pair_positives, negatives, false_negatives and generation_log.
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            mark_trained_on_deleted(
                conn,
                list(impact.runs),
                {"id": document_id, "name": impact.name, "deleted_at": now_iso()},
            )
        finally:
            _drop_impact_tables(conn)
    stored = ws.resolve(stored_path).resolve()
    if stored_path and stored.is_relative_to(ws.files_dir) and stored.is_file():
        stored.unlink()
    return impact


def replace_chunks(ws: Workspace, document_id: int, chunks: list[Chunk]) -> None:
    """Re-chunk one document: its old chunks (and pairs' links to them) are replaced."""
    with ws.transaction() as conn:
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        insert_chunks(conn, document_id, chunks)
