"""Documents and chunks in the workspace database: add, list, delete, rechunk."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.chunking import Chunk
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
            " (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS n_chunks"
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


def delete_document(ws: Workspace, document_id: int) -> bool:
    """Delete a document, its chunks (cascade) and its stored original. True if it existed."""
    with ws.transaction() as conn:
        row = conn.execute(
            "SELECT stored_path FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
    stored = (ws.root / row["stored_path"]).resolve()
    if stored.is_relative_to(ws.files_dir) and stored.is_file():
        stored.unlink()
    return True


def replace_chunks(ws: Workspace, document_id: int, chunks: list[Chunk]) -> None:
    """Re-chunk one document: its old chunks (and pairs' links to them) are replaced."""
    with ws.transaction() as conn:
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        insert_chunks(conn, document_id, chunks)
