"""A BEIR folder into a workspace (`embstudio pairs --import`, the Pairs page): each corpus
document becomes a document with its chunks, each judged query an accepted pair
(docs/ARCHITECTURE.md, "Pairs and negatives"). Reading the folder is core/beir_data.py's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from core import pairs
from core.beir_data import doc_text, load_corpus, load_qrels, load_queries
from core.chunking import ChunkingSettings, chunker
from core.documents import find_by_hash, insert_chunks, insert_document
from core.models import DEFAULT_BASE_MODEL
from core.pairs import insert_pair
from core.store import Workspace


def import_beir(
    ws: Workspace,
    folder: str | Path,
    splits: dict[str, str] | None = None,
    status: str = "accepted",
    model_name: str = DEFAULT_BASE_MODEL,
    doc_ids: set[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Import a BEIR folder: each corpus document becomes a document with its chunks; each
    judged query (relevance > 0) a pair whose positives are all chunks of its relevant documents.

    splits maps a qrels file name to the workspace split it feeds, default {"train": "train",
    "test": "test"} for the files that exist. `doc_ids` limits the corpus (None = all).
    Documents already present (same content hash) are reused. Returns counts.
    """
    folder = Path(folder)
    corpus = load_corpus(folder)
    if doc_ids is not None:
        corpus = {k: v for k, v in corpus.items() if k in doc_ids}
    queries = load_queries(folder)
    if splits is None:
        splits = {
            s: s for s in ("train", "dev", "test") if (folder / "qrels" / f"{s}.tsv").is_file()
        }
    cut = chunker(ChunkingSettings(mode="fixed"), model_name)
    chunk_ids: dict[str, list[int]] = {}
    n_docs = 0
    items = list(corpus.items())
    with ws.transaction() as conn:
        for i, (cid, doc) in enumerate(items):
            text = doc_text(doc)
            digest = hashlib.sha256(f"beir:{folder.name}:{cid}\n{text}".encode()).hexdigest()
            existing = find_by_hash(conn, digest)
            if existing is None:
                existing = insert_document(
                    conn,
                    name=f"{folder.name}:{cid}",
                    stored_path="",
                    sha256=digest,
                    fmt="txt",
                    size_bytes=len(text.encode()),
                    text=text,
                )
                insert_chunks(conn, existing, cut(text))
                n_docs += 1
            rows = conn.execute(
                "SELECT id FROM chunks WHERE document_id = ? ORDER BY ord", (existing,)
            ).fetchall()
            chunk_ids[cid] = [r["id"] for r in rows]
            if on_progress and (i % 200 == 0 or i + 1 == len(items)):
                on_progress(i + 1, len(items))
        n_pairs = 0
        for qrel_split, ws_split in splits.items():
            for qid, rels in load_qrels(folder, qrel_split).items():
                positives = [c for d, r in rels.items() if r > 0 for c in chunk_ids.get(d, [])]
                if not positives or qid not in queries:
                    continue
                insert_pair(
                    conn,
                    queries[qid],
                    positives,
                    kind="real",
                    origin=f"import:beir:{folder.name}:{qrel_split}:{qid}",
                    status=status,
                    reason="imported labelled query",
                    split=ws_split,
                )
                n_pairs += 1
    return {"documents": n_docs, "pairs": n_pairs}


def import_pairs(ws: Workspace, path: str | Path) -> dict:
    """Import a JSONL file of pairs, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)
    whose judged queries become accepted pairs on the corpus' chunks."""
    path = Path(path)
    if path.is_dir():
        if not (path / "corpus.jsonl").is_file():
            raise pairs.PairError(f"{path} is not a BEIR folder (no corpus.jsonl)")
        out = import_beir(ws, path)
        return {"imported": out["pairs"], "documents": out["documents"], "format": "beir"}
    out = pairs.import_jsonl(ws, path)
    out["format"] = "jsonl"
    return out
