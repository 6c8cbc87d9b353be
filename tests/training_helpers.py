"""A small real workspace for mining/training tests: a slice of SciFact (train qrels)."""

from __future__ import annotations

from core.beir_data import load_qrels
from core.beir_import import import_beir
from core.store import Workspace
from tests.conftest import SCIFACT_DIR


def small_scifact(ws: Workspace, n_queries: int = 24, n_other: int = 40, n_val: int = 4) -> dict:
    """Import `n_queries` SciFact train queries with their documents plus `n_other` other
    documents; the last `n_val` pairs move to the validation split. Returns import counts."""
    qrels = load_qrels(SCIFACT_DIR, "train")
    qids = sorted(qrels)[:n_queries]
    docs = {d for q in qids for d in qrels[q]}
    all_docs = sorted({d for rels in qrels.values() for d in rels} - docs)
    docs |= set(all_docs[:n_other])
    counts = import_beir(ws, SCIFACT_DIR, splits={"train": "train"}, doc_ids=docs)
    with ws.transaction() as conn:
        ids = [
            r[0] for r in conn.execute("SELECT id FROM pairs ORDER BY id DESC LIMIT ?", (n_val,))
        ]
        conn.executemany("UPDATE pairs SET split = 'validation' WHERE id = ?", [(i,) for i in ids])
    return counts
