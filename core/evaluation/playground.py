"""The playground: one question, two models, their top-k side by side, with what a user
already has beside them: keyword search (bm25) and model B fused with it at its recipe.

The corpus is an evaluation set's (the workspace's chunks, or a BEIR folder's documents),
searched through `core.retrieval` (dense embeddings from `core.embedding_cache`, so each model
embeds a corpus once and a question costs one encode per model). For a known question (a
held-out or imported pair, a BEIR query) the known positives are marked and each retriever's
rank of them is given; every hit also carries its rank under the model it is compared with
(A against B, B against A, keyword search and the hybrid against B), so rank changes show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import runs
from core.evaluation.compare import (
    ModelSpec,
    SetRetrievers,
    base_spec,
    bm25_spec,
    doc_snippet,
    hybrid_spec,
    run_spec,
)
from core.evaluation.datasets import DatasetError, EvalSet, chunk_doc_id
from core.evaluation.runner import load_evalset
from core.retrieval.fusion import DEFAULT_WEIGHT
from core.retrieval.recipe import run_recipe
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

    @property
    def change_label(self) -> str:
        """The change as shown: ▲n higher, ▼n lower, = the same, "new" not a candidate there."""
        if self.change is None:
            return "new"
        if self.change == 0:
            return "="
        return f"▲{self.change}" if self.change > 0 else f"▼{-self.change}"


@dataclass
class Ranking:
    """One model's top-k; positive_ranks: each known positive's rank (None = not a candidate)."""

    label: str
    hits: list[Hit]
    positive_ranks: dict[str, int | None] = field(default_factory=dict)


@dataclass
class SideBySide:
    """a, b: the two models; keyword: bm25; hybrid: model B fused with bm25 at its recipe."""

    query: str
    query_id: str | None
    positives: list[dict[str, str]]
    a: Ranking
    b: Ranking
    keyword: Ranking
    hybrid: Ranking

    @property
    def rankings(self) -> list[Ranking]:
        return [self.a, self.b, self.keyword, self.hybrid]


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
    retrievers: SetRetrievers, evalset: EvalSet, spec: ModelSpec, query: str, group: str | None
) -> list[tuple[str, float]]:
    """Every candidate document (of `group` when given) as (doc_id, score), best first."""
    doc_ids = list(evalset.corpus)
    grouped = group is not None and evalset.doc_groups is not None
    hits = retrievers.of(spec).search([query], len(doc_ids), [group] if grouped else None)
    return [(doc_ids[i], s) for i, s in hits.row(0)]


def hybrid_of(ws: Workspace, spec: ModelSpec) -> ModelSpec:
    """`spec` fused with bm25: a run at its recipe, the base model at the even mix."""
    if spec.run_id:
        recipe = run_recipe(ws, spec.run_id)
        return hybrid_spec(spec, recipe.weight, recipe.method)
    return hybrid_spec(spec, DEFAULT_WEIGHT)


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
    retrievers = SetRetrievers(evalset, ws)
    hybrid = hybrid_of(ws, spec_b)
    ranked = {
        key: full_ranking(retrievers, evalset, spec, query, group)
        for key, spec in (("a", spec_a), ("b", spec_b), ("kw", bm25_spec()), ("hy", hybrid))
    }

    def ranking(label: str, mine: str, theirs: str) -> Ranking:
        return _ranking(label, evalset, ranked[mine], ranked[theirs], positives, k)

    return SideBySide(
        query=query,
        query_id=query_id,
        positives=[{"doc_id": d, "text": doc_snippet(evalset, d)} for d in sorted(positives)],
        a=ranking(spec_a.label, "a", "b"),
        b=ranking(spec_b.label, "b", "a"),
        keyword=ranking("bm25", "kw", "b"),
        hybrid=ranking(hybrid.label, "hy", "b"),
    )


def model_choices(ws: Workspace) -> list[str]:
    """ "base" and every run (training runs and merges) that has its model, newest first."""
    return ["base", *[r["id"] for r in runs.list_runs(ws, status=runs.SUCCEEDED)]]


def model_spec(ws: Workspace, name: str, base_model: str) -> ModelSpec:
    """The model of a choice: "base" (the model `base_model`) or a run id."""
    return base_spec(base_model) if name == "base" else run_spec(ws, name)
