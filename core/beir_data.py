"""BEIR folders (corpus/queries/qrels) read as plain typed dicts; a format, foundation: it
imports nothing of the product (importing a folder into a workspace is core/beir_import.py).

Contracts follow BEIR: corpus {doc_id: {"title", "text"}}, queries {query_id: text},
qrels {query_id: {doc_id: relevance}}. `corpus.jsonl` may be gzipped (`corpus.jsonl.gz`).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

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
