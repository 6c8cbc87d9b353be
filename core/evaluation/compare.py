"""Run retrievers on an evaluation set and compare two of them query by query.

A retriever is named by a `ModelSpec`: a dense model (the base model, a name resolved through
`core.models.resolve_model`, or a training run's `runs/<RUN>/model` folder), keyword search
(`bm25`), or a dense model fused with keyword search (`base+bm25`, `RUN+bm25`) at a weight. The
first model is the reference ("A", usually the base), the second the candidate ("B", the tuned
run). Everything searches through `core.retrieval`; each dense model embeds the corpus once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.evaluation.datasets import EvalSet
from core.evaluation.metrics import Metrics, evaluate
from core.evaluation.search import (
    DEFAULT_TOP_K,
    bm25_retriever,
    dense_retriever,
    search_set,
)
from core.evaluation.significance import Significance, paired_test
from core.models import DEFAULT_BASE_MODEL, load_sentence_model, resolve_model
from core.retrieval.base import Hits, Results, Retriever
from core.retrieval.fusion import DEFAULT_WEIGHT, FUSION_DEPTH, FusedRetriever, FusionMethod
from core.retrieval.windows import DEFAULT_PASSAGE_MODE, PassageMode
from core.runs import model_dir
from core.store import Workspace

TIE_EPS = 1e-6  # per-query nDCG@10 differences smaller than this are ties
SNIPPET_CHARS = 300  # characters of a document shown in the inspector
BM25_LABEL = "bm25"
HYBRID_SUFFIX = "+bm25"  # "base+bm25", "RUN+bm25": that dense model fused with keyword search

RetrieverKind = Literal["dense", "bm25", "hybrid"]


class ModelError(ValueError):
    """A model or run cannot be found or loaded (the message says why)."""


@dataclass(frozen=True)
class ModelSpec:
    """label: shown in tables; model: the dense model's name or folder ("" for bm25);
    run_id: the training run, if any; kind: dense, bm25 or hybrid (the dense model fused with
    bm25); weight: a hybrid's share of the dense model in [0, 1]; method: minmax or rrf."""

    label: str
    model: str
    run_id: str | None = None
    kind: RetrieverKind = "dense"
    weight: float | None = None
    method: FusionMethod = "minmax"

    def location(self) -> str:
        return resolve_model(self.model) if self.model else ""

    @property
    def is_reference(self) -> bool:
        """What a user already has: keyword search, or the base model fused with it."""
        return self.kind == "bm25" or (self.kind == "hybrid" and self.run_id is None)


def base_spec(name: str = DEFAULT_BASE_MODEL) -> ModelSpec:
    return ModelSpec(label="base", model=name)


def run_spec(ws: Workspace, run_id: str) -> ModelSpec:
    """The model a training run saved (core.runs.model_dir; RunNotFound when it has none)."""
    return ModelSpec(label=run_id, model=str(model_dir(ws, run_id)), run_id=run_id)


def bm25_spec() -> ModelSpec:
    return ModelSpec(label=BM25_LABEL, model="", kind="bm25")


def hybrid_spec(
    dense: ModelSpec, weight: float = DEFAULT_WEIGHT, method: FusionMethod = "minmax"
) -> ModelSpec:
    """`dense` fused with bm25, labelled "<dense label>+bm25"."""
    return ModelSpec(
        label=dense.label + HYBRID_SUFFIX,
        model=dense.model,
        run_id=dense.run_id,
        kind="hybrid",
        weight=weight,
        method=method,
    )


class _Memo:
    """A retriever whose hits for the same queries are computed once, at the largest depth
    asked (a dense model serves both its own row and its hybrid's)."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self._key: tuple | None = None
        self._hits: Hits | None = None

    def search(
        self, queries: Sequence[str], top_k: int, query_groups: Sequence[str | None] | None = None
    ) -> Hits:
        key = (tuple(queries), None if query_groups is None else tuple(query_groups))
        if self._hits is None or self._key != key or self._hits.scores.shape[1] < top_k:
            self._hits = self.inner.search(queries, max(top_k, FUSION_DEPTH), query_groups)
            self._key = key
        return Hits(self._hits.scores[:, :top_k], self._hits.indices[:, :top_k])


class SetRetrievers:
    """The retrievers of one evaluation set, each built once: a dense model per location
    (its corpus embedded through the workspace's cache when there is a workspace), bm25 once."""

    def __init__(
        self,
        evalset: EvalSet,
        ws: Workspace | None = None,
        batch_size: int = 32,
        passage_mode: PassageMode = DEFAULT_PASSAGE_MODE,
    ) -> None:
        self.evalset, self.ws = evalset, ws
        self.batch_size, self.passage_mode = batch_size, passage_mode
        self._built: dict[str, _Memo] = {}

    def dense(
        self, spec: ModelSpec, on_progress: Callable[[int, int], None] | None = None
    ) -> _Memo:
        location = spec.location()
        if location not in self._built:
            try:
                model = load_sentence_model(location)
            except Exception as exc:
                raise ModelError(f"cannot load model {spec.model}: {exc}") from exc
            self._built[location] = _Memo(
                dense_retriever(
                    self.ws,
                    self.evalset,
                    location,
                    model,
                    self.batch_size,
                    self.passage_mode,
                    on_progress,
                )
            )
        return self._built[location]

    def bm25(self) -> _Memo:
        if BM25_LABEL not in self._built:
            self._built[BM25_LABEL] = _Memo(bm25_retriever(self.evalset))
        return self._built[BM25_LABEL]

    def of(
        self, spec: ModelSpec, on_progress: Callable[[int, int], None] | None = None
    ) -> Retriever:
        if spec.kind == "bm25":
            return self.bm25()
        if spec.kind == "hybrid":
            weight = DEFAULT_WEIGHT if spec.weight is None else spec.weight
            return FusedRetriever(self.dense(spec, on_progress), self.bm25(), weight, spec.method)
        return self.dense(spec, on_progress)


@dataclass
class ModelOutcome:
    spec: ModelSpec
    results: Results
    metrics: Metrics
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self.spec),
            "location": self.spec.location(),
            "metrics": self.metrics.aggregate,
            "n_queries": self.metrics.n_queries,
            "seconds": round(self.seconds, 1),
        }


def evaluate_model(
    spec: ModelSpec,
    evalset: EvalSet,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 32,
    on_progress: Callable[[str, int, int], None] | None = None,
    retrievers: SetRetrievers | None = None,
) -> ModelOutcome:
    """Search and score one retriever on `evalset` (`retrievers` shares what is built)."""
    start = time.perf_counter()
    retrievers = retrievers or SetRetrievers(evalset, batch_size=batch_size)
    step = (lambda d, t: on_progress("corpus", d, t)) if on_progress else None
    results = search_set(evalset, retrievers.of(spec, step), top_k)
    metrics = evaluate(evalset.qrels, results)
    return ModelOutcome(spec, results, metrics, time.perf_counter() - start)


def _top(evalset: EvalSet, results: Results, qid: str, n: int) -> list[dict]:
    hits = sorted(results.get(qid, {}).items(), key=lambda kv: -kv[1])[:n]
    rel = evalset.qrels.get(qid, {})
    return [
        {
            "doc_id": d,
            "score": round(s, 4),
            "relevant": rel.get(d, 0) > 0,
            "source": evalset.doc_labels.get(d, ""),
            "text": doc_snippet(evalset, d),
        }
        for d, s in hits
    ]


def doc_snippet(evalset: EvalSet, doc_id: str) -> str:
    doc = evalset.corpus.get(doc_id, {})
    text = f"{doc.get('title', '')} {doc.get('text', '')}".strip()
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


@dataclass
class Comparison:
    """Per-query outcome of B vs A on nDCG@10, the counts, and the significance test."""

    label_a: str
    label_b: str
    wins: int
    losses: int
    ties: int
    significance: Significance
    queries: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "label_a": self.label_a,
            "label_b": self.label_b,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "significance": self.significance.to_dict(),
            "significance_sentence": self.significance.sentence(self.label_a, self.label_b),
            "queries": self.queries,
        }


def compare(
    evalset: EvalSet, a: ModelOutcome, b: ModelOutcome, top_n: int = 3, seed: int = 0
) -> Comparison:
    """Wins (B better), losses (B worse) and ties per query on nDCG@10, with the query, its
    relevant documents and both models' top-`top_n`; rows sorted by B - A, largest loss first."""
    na, nb = a.metrics.per_query["ndcg@10"], b.metrics.per_query["ndcg@10"]
    rows = []
    for qid in sorted(set(na) & set(nb)):
        delta = nb[qid] - na[qid]
        outcome = "tie" if abs(delta) < TIE_EPS else ("win" if delta > 0 else "loss")
        relevant = [d for d, r in evalset.qrels.get(qid, {}).items() if r > 0]
        rows.append(
            {
                "query_id": qid,
                "query": evalset.queries.get(qid, ""),
                "relevant": [{"doc_id": d, "text": doc_snippet(evalset, d)} for d in relevant],
                "ndcg_a": round(na[qid], 4),
                "ndcg_b": round(nb[qid], 4),
                "delta": round(delta, 4),
                "outcome": outcome,
                "top_a": _top(evalset, a.results, qid, top_n),
                "top_b": _top(evalset, b.results, qid, top_n),
            }
        )
    rows.sort(key=lambda r: (r["delta"], r["query_id"]))
    sig = paired_test(na, nb, metric="nDCG@10", seed=seed)
    return Comparison(
        label_a=a.spec.label,
        label_b=b.spec.label,
        wins=sum(r["outcome"] == "win" for r in rows),
        losses=sum(r["outcome"] == "loss" for r in rows),
        ties=sum(r["outcome"] == "tie" for r in rows),
        significance=sig,
        queries=rows,
    )


def best_reference(outcomes: list[ModelOutcome]) -> ModelOutcome | None:
    """The reference (bm25 or base+bm25) with the highest nDCG@10, or None."""
    refs = [o for o in outcomes if o.spec.is_reference]
    return max(refs, key=lambda o: o.metrics.aggregate.get("NDCG@10", 0.0), default=None)


def evaluate_models(
    evalset: EvalSet,
    specs: list[ModelSpec],
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 32,
    seed: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    ws: Workspace | None = None,
    passage_mode: PassageMode = DEFAULT_PASSAGE_MODE,
) -> tuple[list[ModelOutcome], Comparison | None]:
    """Evaluate each retriever; compare the first two (A = specs[0], B = specs[1]) if there
    are two. `on_progress(message, done, total)` reports encoding progress across all models.
    """
    retrievers = SetRetrievers(evalset, ws, batch_size, passage_mode)
    outcomes = []
    for i, spec in enumerate(specs):
        prefix = f"[{i + 1}/{len(specs)}] {spec.label}"

        def step(stage: str, done: int, total: int, prefix: str = prefix) -> None:
            if on_progress:
                on_progress(f"{prefix}: encoding {stage} {done}/{total}", done, total)

        outcomes.append(evaluate_model(spec, evalset, top_k, batch_size, step, retrievers))
    comparison = (
        compare(evalset, outcomes[0], outcomes[1], seed=seed) if len(outcomes) > 1 else None
    )
    return outcomes, comparison
