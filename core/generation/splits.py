"""Train/validation/test splits by document, so that no test document's text is trained on.

A document's split is fixed once assigned (documents.split); new documents get one the next
time `assign_splits` runs. The assignment is deterministic: a document's bucket is a hash of its
content hash, so the same files give the same splits in any workspace.

Small workspaces: with fewer than `MIN_DOCS_FOR_TEST` documents everything is train (holding out
one of two documents would halve the training text). Evaluation is still possible later: add
documents (they get splits), import a labelled BEIR set as the test split, or call
`assign_splits(ws, reassign=True)` after the workspace grows. Generated pairs inherit the split
of their source document; imported pairs keep the split they were imported with.
"""

from __future__ import annotations

import hashlib
import sqlite3

from core.store import Workspace

SPLITS = ("train", "validation", "test")
MIN_DOCS_FOR_TEST = 3  # below this every document is train
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


def assign_splits(ws: Workspace, reassign: bool = False) -> dict[str, int]:
    """Give every document without a split one (all documents when `reassign`) and update the
    split of generated pairs to their source document's. Returns counts per split."""
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
        sync_pair_splits(conn)
        counts = {s: 0 for s in SPLITS}
        for r in conn.execute("SELECT split, COUNT(*) AS n FROM documents GROUP BY split"):
            if r["split"] in counts:
                counts[r["split"]] = r["n"]
    return counts


def sync_pair_splits(conn: sqlite3.Connection) -> None:
    """Generated and manual pairs take the split of their source document (the document of
    their lowest positive chunk id); imported labelled pairs keep theirs."""
    conn.execute(
        "UPDATE pairs SET split = (SELECT d.split FROM pair_positives pp"
        " JOIN chunks c ON c.id = pp.chunk_id JOIN documents d ON d.id = c.document_id"
        " WHERE pp.pair_id = pairs.id AND d.split IS NOT NULL ORDER BY pp.chunk_id LIMIT 1)"
        " WHERE origin NOT LIKE 'import:%' AND EXISTS (SELECT 1 FROM pair_positives pp"
        " JOIN chunks c ON c.id = pp.chunk_id JOIN documents d ON d.id = c.document_id"
        " WHERE pp.pair_id = pairs.id AND d.split IS NOT NULL)"
    )


def document_splits(conn: sqlite3.Connection) -> dict[int, str]:
    """chunk id → its document's split (train when unassigned)."""
    return {
        r["id"]: r["split"] or "train"
        for r in conn.execute(
            "SELECT c.id, d.split FROM chunks c JOIN documents d ON d.id = c.document_id"
        )
    }
