"""The evaluation sets, each as BEIR dicts plus optional group ids.

(a) `workspace_set`: the workspace's held-out split of curated pairs (status accepted or
    edited, `pairs.split`), positives from pair_positives, corpus = every chunk of the workspace.
(b) `beir_set`: any BEIR folder (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv).
(c) `general_set`: a general-domain BEIR set showing what tuning cost outside the domain;
    SciFact unless a folder is named (where it comes from: `general_data`).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.beir_data import load_beir
from core.evaluation.general_data import general_dir
from core.pairs import CURATED
from core.store import Workspace

Corpus = dict[str, dict[str, str]]
Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]


class DatasetError(ValueError):
    """An evaluation set cannot be built (the message says why)."""


@dataclass
class EvalSet:
    """A BEIR-style evaluation set. `doc_groups`/`query_groups` (or None) restrict candidates;
    `doc_labels` names each document's source (for colouring and the inspector)."""

    name: str
    corpus: Corpus
    queries: Queries
    qrels: Qrels
    doc_groups: dict[str, str] | None = None
    query_groups: dict[str, str] | None = None
    doc_labels: dict[str, str] = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judgements": sum(len(r) for r in self.qrels.values()),
            "grouped": self.doc_groups is not None,
            **self.config,
        }


def chunk_doc_id(chunk_id: int) -> str:
    return f"c{chunk_id}"


def pair_query_id(pair_id: int) -> str:
    return f"q{pair_id}"


def workspace_set(ws: Workspace, split: str = "test", group: str | None = None) -> EvalSet:
    """Held-out curated pairs of `split` against all workspace chunks.

    group: None, or "document" (each query only searches the document of its first positive).
    """
    if group not in (None, "document"):
        raise DatasetError(f"unknown group field {group!r} for a workspace set (use 'document')")
    with ws.connect() as conn:
        chunks = conn.execute(
            "SELECT c.id, c.document_id, c.text, c.heading_path, d.name"
            " FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id"
        ).fetchall()
        pairs = conn.execute(
            "SELECT p.id, p.query, pp.chunk_id FROM pairs p"
            " JOIN pair_positives pp ON pp.pair_id = p.id"
            f" WHERE p.status IN {CURATED!r} AND p.split = ? ORDER BY p.id, pp.chunk_id",
            (split,),
        ).fetchall()
    if not chunks:
        raise DatasetError("the workspace has no chunks: ingest documents first")
    corpus = {chunk_doc_id(r["id"]): {"title": "", "text": r["text"]} for r in chunks}
    doc_of = {chunk_doc_id(r["id"]): str(r["document_id"]) for r in chunks}
    labels = {chunk_doc_id(r["id"]): r["name"] for r in chunks}
    queries: Queries = {}
    qrels: Qrels = {}
    query_groups: dict[str, str] = {}
    for r in pairs:
        qid, did = pair_query_id(r["id"]), chunk_doc_id(r["chunk_id"])
        queries[qid] = r["query"]
        qrels.setdefault(qid, {})[did] = 1
        query_groups.setdefault(qid, doc_of[did])
    if not queries:
        raise DatasetError(
            f"no curated pairs in split {split!r}: accept some pairs (Pairs page) first"
        )
    grouped = group == "document"
    return EvalSet(
        name=f"workspace:{split}",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        doc_groups=doc_of if grouped else None,
        query_groups=query_groups if grouped else None,
        doc_labels=labels,
        config={"source": "workspace", "split": split, "group": group},
    )


def _read_jsonl(path: Path) -> list[dict]:
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if gz.is_file():
        with gzip.open(gz, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    return []


def _field(row: dict, name: str) -> str | None:
    value = row.get(name)
    if value is None and isinstance(row.get("metadata"), dict):
        value = row["metadata"].get(name)
    return None if value is None else str(value)


def beir_set(
    folder: str | Path, split: str = "test", group: str | None = None, name: str | None = None
) -> EvalSet:
    """A BEIR folder's split. group: a field of corpus.jsonl rows (top level or "metadata");
    a query's group is the same field of its queries.jsonl row, else its first relevant doc's."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    try:
        corpus, queries, qrels = load_beir(folder, split)
    except FileNotFoundError as exc:
        raise DatasetError(str(exc)) from exc
    qrels = {q: r for q, r in qrels.items() if q in queries}
    doc_groups = query_groups = None
    if group:
        doc_groups = {
            str(r["_id"]): g
            for r in _read_jsonl(folder / "corpus.jsonl")
            if (g := _field(r, group)) is not None
        }
        if not doc_groups:
            raise DatasetError(f"no corpus document has a field {group!r}")
        query_groups = {
            str(r["_id"]): g
            for r in _read_jsonl(folder / "queries.jsonl")
            if str(r["_id"]) in queries and (g := _field(r, group)) is not None
        }
        for q, rels in qrels.items():
            if q not in query_groups:
                found = next(
                    (doc_groups[d] for d, v in rels.items() if v > 0 and d in doc_groups), None
                )
                if found is not None:
                    query_groups[q] = found
    return EvalSet(
        name=name or f"beir:{folder.name}:{split}",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        doc_groups=doc_groups,
        query_groups=query_groups,
        doc_labels={d: folder.name for d in corpus} if not doc_groups else dict(doc_groups),
        config={"source": "beir", "folder": str(folder.resolve()), "split": split, "group": group},
    )


def general_set(
    folder: str | Path | None = None, split: str = "test", ws: Workspace | None = None
) -> EvalSet:
    """The general-domain check: `folder`, else the one the user named (the settings of `ws`,
    $EMBSTUDIO_GENERAL_DIR), else SciFact from the cache or BEIR's downloader; GeneralSetMissing
    says how to get one when there is none (core.evaluation.general_data)."""
    path = general_dir(folder, ws)
    evalset = beir_set(path, split, name=f"general:{path.name}:{split}")
    evalset.config["source"] = "general"
    return evalset
