"""A tiny workspace of three documents and six curated questions, and a base model saved as a
run: the fixtures of the evaluation, playground and Evaluate page tests."""

from __future__ import annotations

import shutil

from core.chunking import Chunk
from core.documents import insert_chunks, insert_document
from core.store import Workspace, now_iso

DOCS = {
    "biology.txt": [
        "Mitochondria produce ATP through oxidative phosphorylation in eukaryotic cells.",
        "Photosynthesis in chloroplasts converts light energy into glucose and oxygen.",
    ],
    "history.txt": [
        "The Roman Empire was divided into eastern and western halves in 395 AD.",
        "The French Revolution began in 1789 with the storming of the Bastille.",
    ],
    "cooking.txt": [
        "Bread dough rises because yeast ferments sugars and releases carbon dioxide.",
        "Searing meat at high heat creates browning through the Maillard reaction.",
    ],
}
QUESTIONS = [
    ("Which organelle makes ATP?", "biology.txt", 0),
    ("How do plants turn light into sugar?", "biology.txt", 1),
    ("When was the Roman Empire split in two?", "history.txt", 0),
    ("What event started the French Revolution?", "history.txt", 1),
    ("Why does bread dough rise?", "cooking.txt", 0),
    ("What causes browning when searing meat?", "cooking.txt", 1),
]


def make_tiny_workspace(ws: Workspace, split: str = "test") -> dict[tuple[str, int], int]:
    """Three documents of two chunks each and six curated pairs in `split`; returns chunk ids."""
    ids: dict[tuple[str, int], int] = {}
    with ws.transaction() as conn:
        for name, texts in DOCS.items():
            doc = insert_document(
                conn,
                name=name,
                stored_path="",
                sha256=name,
                fmt="txt",
                size_bytes=1,
                text="\n".join(texts),
            )
            insert_chunks(conn, doc, [Chunk(i, t, "", 0, len(t), 20) for i, t in enumerate(texts)])
            for row in conn.execute("SELECT id, ord FROM chunks WHERE document_id = ?", (doc,)):
                ids[(name, row["ord"])] = row["id"]
        for q, name, ord_ in QUESTIONS:
            cur = conn.execute(
                "INSERT INTO pairs (query, original_query, kind, status, split, created_at,"
                " updated_at) VALUES (?, ?, 'simple', 'accepted', ?, ?, ?)",
                (q, q, split, now_iso(), now_iso()),
            )
            conn.execute(
                "INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, ids[(name, ord_)])
            )
        # A rejected pair and a train pair must not be evaluated.
        for status, sp in (("rejected", split), ("accepted", "train")):
            cur = conn.execute(
                "INSERT INTO pairs (query, original_query, kind, status, split, created_at,"
                " updated_at) VALUES ('x', 'x', 'simple', ?, ?, ?, ?)",
                (status, sp, now_iso(), now_iso()),
            )
            conn.execute(
                "INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, ids[("biology.txt", 0)])
            )
    return ids


def save_base_as_run(ws: Workspace, run_id: str) -> None:
    """A 'trained' run whose model is the base model saved to runs/<id>/model."""
    from core import runs
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    target = ws.run_dir(run_id) / "model"
    shutil.copytree(resolve_model(DEFAULT_BASE_MODEL), target)
    runs.record_run(ws, run_id, {"base_model": DEFAULT_BASE_MODEL, "loss": "mnrl", "epochs": 1})
    runs.finish_run(ws, run_id)
