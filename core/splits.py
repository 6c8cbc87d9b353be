"""Train/validation/test splits by document, so that no test document's text is trained on.

A document's split is fixed once assigned (documents.split); new documents get one the next
time `assign_splits` runs. The assignment is deterministic: a document's bucket is a hash of its
content hash, so the same files give the same splits in any workspace.

Small workspaces: with fewer than `MIN_DOCS_FOR_TEST` documents (one long manual, say), holding
out a whole document would halve the training text, so windows of chunks are held out instead:
each document long enough (`MIN_CHUNKS_FOR_WINDOWS` chunks) is cut into `WINDOWS` contiguous
windows, one chosen by its hash is test and another validation (chunks.split), the rest train.
Neighbouring windows share one chunk overlap at their edges; that is the price of evaluating at
all. `split_mode` says which hold-out a workspace has, for the pages. Generated pairs inherit the
split of their source chunk; imported pairs keep the split they were imported with.
"""

from __future__ import annotations

import hashlib
import sqlite3

from core.store import Workspace

SPLITS = ("train", "validation", "test")
MIN_DOCS_FOR_TEST = 3  # below this, windows of chunks are held out instead of documents
MIN_CHUNKS_FOR_WINDOWS = 10  # a shorter document of a small workspace is all train
WINDOWS = 10  # contiguous chunk windows per document in window mode (1 test, 1 validation)
MIN_DOCS_FOR_VALIDATION = 10  # below this no validation documents
VALIDATION_SHARE = 0.1
TEST_SHARE = 0.1


def _bucket(sha256: str) -> float:
    """A stable number in [0, 1) for a document."""
    digest = hashlib.sha256(f"split:{sha256}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def plan_splits(docs: list[tuple[int, str]]) -> dict[int, str]:
    """Splits for documents given as (id, sha256): ~80/10/10 by hash bucket, at least one test
    document from MIN_DOCS_FOR_TEST on and one validation document from
    MIN_DOCS_FOR_VALIDATION on."""
    n = len(docs)
    if n < MIN_DOCS_FOR_TEST:
        return {doc_id: "train" for doc_id, _ in docs}
    ranked = sorted(docs, key=lambda d: _bucket(d[1]), reverse=True)  # highest buckets held out
    n_test = max(1, round(n * TEST_SHARE))
    n_val = max(1, round(n * VALIDATION_SHARE)) if n >= MIN_DOCS_FOR_VALIDATION else 0
    out = {}
    for i, (doc_id, _) in enumerate(ranked):
        out[doc_id] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out


def plan_chunk_windows(chunk_ids: list[int], sha256: str) -> dict[int, str]:
    """Splits for one document's chunks (in order) in window mode: `WINDOWS` contiguous
    windows, the test and validation windows chosen by the document's hash bucket."""
    n = len(chunk_ids)
    if n < MIN_CHUNKS_FOR_WINDOWS:
        return {cid: "train" for cid in chunk_ids}
    test = int(_bucket(sha256) * WINDOWS)
    validation = (test + WINDOWS // 2) % WINDOWS
    out = {}
    for i, cid in enumerate(chunk_ids):
        window = i * WINDOWS // n
        out[cid] = "test" if window == test else "validation" if window == validation else "train"
    return out


def assign_splits(ws: Workspace, reassign: bool = False) -> dict[str, int]:
    """Give every document without a split one (all documents when `reassign`), hold out
    chunk windows in a workspace of too few documents, and update the split of generated
    pairs to their source chunk's. Returns counts of documents per split."""
    with ws.transaction() as conn:
        rows = conn.execute("SELECT id, sha256, split FROM documents ORDER BY id").fetchall()
        if reassign or all(r["split"] is None for r in rows):
            plan = plan_splits([(r["id"], r["sha256"]) for r in rows])
        else:
            # Keep existing splits; a new document goes by its hash bucket alone.
            plan = {}
            for r in rows:
                if r["split"] is None:
                    b = _bucket(r["sha256"])
                    plan[r["id"]] = (
                        "test"
                        if b >= 1 - TEST_SHARE
                        else "validation"
                        if b >= 1 - TEST_SHARE - VALIDATION_SHARE
                        and len(rows) >= MIN_DOCS_FOR_VALIDATION
                        else "train"
                    )
        conn.executemany(
            "UPDATE documents SET split = ? WHERE id = ?", [(s, i) for i, s in plan.items()]
        )
        if len(rows) < MIN_DOCS_FOR_TEST:
            _assign_chunk_windows(conn, rows)
        sync_pair_splits(conn)
        counts = {s: 0 for s in SPLITS}
        for r in conn.execute("SELECT split, COUNT(*) AS n FROM documents GROUP BY split"):
            if r["split"] in counts:
                counts[r["split"]] = r["n"]
    return counts


def _assign_chunk_windows(conn: sqlite3.Connection, docs: list[sqlite3.Row]) -> None:
    """Window mode: chunks of each document without chunk splits get them."""
    for doc in docs:
        chunks = conn.execute(
            "SELECT id, split FROM chunks WHERE document_id = ? ORDER BY ord", (doc["id"],)
        ).fetchall()
        if not chunks or any(c["split"] is not None for c in chunks):
            continue  # fixed once assigned
        plan = plan_chunk_windows([c["id"] for c in chunks], doc["sha256"])
        conn.executemany(
            "UPDATE chunks SET split = ? WHERE id = ?", [(s, cid) for cid, s in plan.items()]
        )


def split_mode(ws: Workspace) -> dict[str, int | str]:
    """How the workspace holds out evaluation data: {"mode": "documents" | "chunk windows" |
    "none", "test_documents", "test_chunks", "chunks"}."""
    with ws.connect() as conn:
        row = conn.execute(
            "SELECT COUNT(*) AS chunks,"
            " SUM(COALESCE(c.split, d.split) = 'test') AS test_chunks,"
            " SUM(c.split IS NOT NULL) AS own,"
            " COUNT(DISTINCT CASE WHEN d.split = 'test' THEN d.id END) AS test_documents"
            " FROM chunks c JOIN documents d ON d.id = c.document_id"
        ).fetchone()
    test_chunks = int(row["test_chunks"] or 0)
    mode = "none" if not test_chunks else "chunk windows" if row["own"] else "documents"
    return {
        "mode": mode,
        "test_documents": int(row["test_documents"] or 0),
        "test_chunks": test_chunks,
        "chunks": int(row["chunks"] or 0),
    }


def sync_pair_splits(conn: sqlite3.Connection) -> None:
    """Generated and manual pairs take the split of their source document (the document of
    their lowest positive chunk id); imported labelled pairs keep theirs."""
    conn.execute(
        f"UPDATE pairs SET split = (SELECT {_CHUNK_SPLIT} FROM pair_positives pp"
        " JOIN chunks c ON c.id = pp.chunk_id JOIN documents d ON d.id = c.document_id"
        f" WHERE pp.pair_id = pairs.id AND {_CHUNK_SPLIT} IS NOT NULL"
        " ORDER BY pp.chunk_id LIMIT 1)"
        " WHERE origin NOT LIKE 'import:%' AND EXISTS (SELECT 1 FROM pair_positives pp"
        " JOIN chunks c ON c.id = pp.chunk_id JOIN documents d ON d.id = c.document_id"
        f" WHERE pp.pair_id = pairs.id AND {_CHUNK_SPLIT} IS NOT NULL)"
    )


# A chunk's split: its own (window mode) or its document's.
_CHUNK_SPLIT = "COALESCE(c.split, d.split)"


def chunk_splits(conn: sqlite3.Connection) -> dict[int, str]:
    """chunk id → its split (its own, else its document's; train when unassigned)."""
    return {
        r["id"]: r["split"] or "train"
        for r in conn.execute(
            f"SELECT c.id, {_CHUNK_SPLIT} AS split FROM chunks c"
            " JOIN documents d ON d.id = c.document_id"
        )
    }
