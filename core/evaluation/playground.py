"""The playground: one question, two models, their top-k side by side.

The corpus is an evaluation set's (the workspace's chunks, or a BEIR folder's documents); its
embeddings come from `core.embedding_cache`, so each model embeds a corpus once and a question
costs one encode per model. For a known question (a held-out or imported pair, a BEIR query)
the known positives are marked and each model's rank of them is given; every hit also carries
its rank under the other model, so rank changes can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.evaluation.compare import ModelSpec, base_spec, doc_snippet, run_spec
from core.evaluation.datasets import DatasetError, EvalSet, chunk_doc_id
from core.evaluation.runner import load_evalset
from core.evaluation.search import corpus_embeddings, encode, exact_search
from core.models import load_sentence_model
from core.store import Workspace

DEFAULT_K = 10  # hits shown per model


@dataclass(frozen=True)
class Hit:
    """rank (1 = best) and score under this model; other_rank: the same document's rank under
    the other model (None when it is not among the candidates there)."""

    rank: int
    doc_id: str
    score: float
    source: str
    text: str
    relevant: bool
    other_rank: int | None

    @property
    def change(self) -> int | None:
        """Places gained against the other model (positive = ranked higher here)."""
        return None if self.other_rank is None else self.other_rank - self.rank


@dataclass
class Ranking:
    """One model's top-k; positive_ranks: each known positive's rank (None = not a candidate)."""

    label: str
    hits: list[Hit]
    positive_ranks: dict[str, int | None] = field(default_factory=dict)


@dataclass
class SideBySide:
    query: str
    query_id: str | None
    positives: list[dict[str, str]]
    a: Ranking
    b: Ranking


def workspace_corpus(ws: Workspace) -> EvalSet:
    """Every chunk of the workspace, no questions (for typed questions before any pair)."""
    from core.documents import list_chunks

    chunks = list_chunks(ws)
    if not chunks:
        raise DatasetError("the workspace has no chunks: ingest documents first")
    return EvalSet(
        name="workspace:chunks",
        corpus={chunk_doc_id(c["id"]): {"title": "", "text": c["text"]} for c in chunks},
        queries={},
        qrels={},
        doc_labels={chunk_doc_id(c["id"]): c["document"] for c in chunks},
        config={"source": "workspace"},
    )


def question_set(ws: Workspace, params: dict[str, Any] | None = None) -> EvalSet:
    """The set a playground searches and takes its questions from: `params` as for
    `runner.load_evalset` (default the workspace test split), or just the workspace's chunks
    when that split has no curated pairs yet."""
    params = params or {"dataset": "workspace", "split": "test"}
    try:
        return load_evalset(ws, params)
    except DatasetError:
        if params.get("dataset", "workspace") != "workspace":
            raise
        return workspace_corpus(ws)


def full_ranking(
    ws: Workspace, evalset: EvalSet, spec: ModelSpec, query: str, group: str | None
) -> list[tuple[str, float]]:
    """Every candidate document (of `group` when given) as (doc_id, score), best first."""
    corpus_emb = corpus_embeddings(ws, evalset, spec.location())
    query_emb = encode(load_sentence_model(spec.location()), [query])
    doc_ids = list(evalset.corpus)
    doc_groups = None
    if group is not None and evalset.doc_groups is not None:
        doc_groups = [evalset.doc_groups.get(d) for d in doc_ids]
    scores, idx = exact_search(
        query_emb,
        corpus_emb,
        top_k=len(doc_ids),
        query_groups=[group] if doc_groups is not None else None,
        doc_groups=doc_groups,
    )
    return [
        (doc_ids[i], float(s))
        for s, i in zip(scores[0].tolist(), idx[0].tolist(), strict=True)
        if i >= 0
    ]


def _ranking(
    label: str,
    evalset: EvalSet,
    mine: list[tuple[str, float]],
    theirs: list[tuple[str, float]],
    positives: set[str],
    k: int,
) -> Ranking:
    other = {d: r for r, (d, _) in enumerate(theirs, 1)}
    ranks = {d: r for r, (d, _) in enumerate(mine, 1)}
    hits = [
        Hit(
            rank=r,
            doc_id=d,
            score=round(s, 4),
            source=evalset.doc_labels.get(d, ""),
            text=doc_snippet(evalset, d),
            relevant=d in positives,
            other_rank=other.get(d),
        )
        for r, (d, s) in enumerate(mine[:k], 1)
    ]
    return Ranking(label, hits, {d: ranks.get(d) for d in sorted(positives)})


def side_by_side(
    ws: Workspace,
    evalset: EvalSet,
    spec_a: ModelSpec,
    spec_b: ModelSpec,
    query: str,
    query_id: str | None = None,
    k: int = DEFAULT_K,
) -> SideBySide:
    """Both models' top-`k` for `query`. A `query_id` of the set brings its known positives
    and, when the set is grouped, restricts candidates to the query's group as evaluation did."""
    query = query.strip()
    if not query:
        raise ValueError("type a question first")
    rels = evalset.qrels.get(query_id, {}) if query_id else {}
    positives = {d for d, r in rels.items() if r > 0}
    group = (evalset.query_groups or {}).get(query_id) if query_id else None
    ranked_a = full_ranking(ws, evalset, spec_a, query, group)
    ranked_b = full_ranking(ws, evalset, spec_b, query, group)
    return SideBySide(
        query=query,
        query_id=query_id,
        positives=[{"doc_id": d, "text": doc_snippet(evalset, d)} for d in sorted(positives)],
        a=_ranking(spec_a.label, evalset, ranked_a, ranked_b, positives, k),
        b=_ranking(spec_b.label, evalset, ranked_b, ranked_a, positives, k),
    )


def hit_rows(ranking: Ranking) -> list[dict[str, Any]]:
    """A ranking as table rows: rank, change against the other model, score, positive, passage."""
    return [
        {
            "rank": h.rank,
            "change": _change_text(h),
            "score": h.score,
            "positive": "✅" if h.relevant else "",
            "source": h.source,
            "passage": h.text,
            "doc_id": h.doc_id,
        }
        for h in ranking.hits
    ]


def _change_text(hit: Hit) -> str:
    if hit.other_rank is None:
        return "new"
    if hit.change == 0:
        return "="
    return f"▲{hit.change}" if hit.change > 0 else f"▼{-hit.change}"


def model_choices(ws: Workspace) -> list[str]:
    """ "base" and every run (training runs and merges) whose model folder exists, newest first."""
    return [
        "base",
        *[
            r["id"]
            for r in ws.list_runs()
            if r["model_path"] and (ws.root / r["model_path"] / "modules.json").is_file()
        ],
    ]


def model_spec(ws: Workspace, name: str, base_model: str) -> ModelSpec:
    """The model of a choice: "base" (the model `base_model`) or a run id."""
    return base_spec(base_model) if name == "base" else run_spec(ws, name)
