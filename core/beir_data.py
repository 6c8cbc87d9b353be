"""BEIR folders (corpus/queries/qrels) as plain typed dicts, and their import into a workspace.

Contracts follow BEIR: corpus {doc_id: {"title", "text"}}, queries {query_id: text},
qrels {query_id: {doc_id: relevance}}. `corpus.jsonl` may be gzipped (`corpus.jsonl.gz`).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from pathlib import Path

from core import pairs
from core.chunking import ChunkingSettings, chunker
from core.documents import find_by_hash, insert_chunks, insert_document
from core.models import DEFAULT_BASE_MODEL
from core.pairs import insert_pair
from core.store import Workspace

Corpus = dict[str, dict[str, str]]
Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]


def _open_jsonl(path: Path):
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path.open(encoding="utf-8")
    if gz.is_file():
        return gzip.open(gz, "rt", encoding="utf-8")
    raise FileNotFoundError(f"{path} (or {gz.name}) not found: not a BEIR folder?")


def load_corpus(folder: str | Path) -> Corpus:
    with _open_jsonl(Path(folder) / "corpus.jsonl") as f:
        corpus = {}
        for line in f:
            if line.strip():
                row = json.loads(line)
                corpus[str(row["_id"])] = {
                    "title": row.get("title") or "",
                    "text": row.get("text") or "",
                }
    return corpus


def load_queries(folder: str | Path) -> Queries:
    with _open_jsonl(Path(folder) / "queries.jsonl") as f:
        return {str(r["_id"]): r["text"] for r in map(json.loads, filter(str.strip, f))}


def load_qrels(folder: str | Path, split: str = "test") -> Qrels:
    path = Path(folder) / "qrels" / f"{split}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (split {split!r})")
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        for row in reader:
            if len(row) < 3 or row[2].strip().lstrip("-").isdigit() is False:
                continue  # header or malformed line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_beir(folder: str | Path, split: str = "test") -> tuple[Corpus, Queries, Qrels]:
    """(corpus, queries restricted to the split's judged queries, qrels) of a BEIR folder."""
    qrels = load_qrels(folder, split)
    queries = load_queries(folder)
    return load_corpus(folder), {q: queries[q] for q in qrels if q in queries}, qrels


def doc_text(doc: dict[str, str]) -> str:
    """How a BEIR document is embedded and stored: title, blank line, text (title omitted if empty)."""
    title = (doc.get("title") or "").strip()
    return f"{title}\n\n{doc['text']}" if title else doc["text"]


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
    import hashlib

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
