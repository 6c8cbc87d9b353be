"""Run models on an evaluation set and compare two of them query by query.

A model is named by a `ModelSpec`: the base model (a name resolved through
`core.models.resolve_model`) or a training run (its `runs/<RUN>/model` folder). The first
model is the reference ("A", usually the base), the second the candidate ("B", the tuned run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from core.evaluation.datasets import EvalSet
from core.evaluation.metrics import Metrics, evaluate
from core.evaluation.search import DEFAULT_TOP_K, Results, dense_search
from core.evaluation.significance import Significance, paired_test
from core.models import DEFAULT_BASE_MODEL, load_sentence_model, resolve_model
from core.runs import model_dir
from core.store import Workspace

TIE_EPS = 1e-6  # per-query nDCG@10 differences smaller than this are ties
SNIPPET_CHARS = 300  # characters of a document shown in the inspector


class ModelError(ValueError):
    """A model or run cannot be found or loaded (the message says why)."""


@dataclass(frozen=True)
class ModelSpec:
    """label: shown in tables; model: a name or folder; run_id: the training run, if any."""

    label: str
    model: str
    run_id: str | None = None

    def location(self) -> str:
        return resolve_model(self.model)


def base_spec(name: str = DEFAULT_BASE_MODEL) -> ModelSpec:
    return ModelSpec(label="base", model=name)


def run_spec(ws: Workspace, run_id: str) -> ModelSpec:
    """The model a training run saved (core.runs.model_dir; RunNotFound when it has none)."""
    return ModelSpec(label=run_id, model=str(model_dir(ws, run_id)), run_id=run_id)


@dataclass
class ModelOutcome:
    spec: ModelSpec
    results: Results
    metrics: Metrics
    seconds: float

    def summary(self) -> dict:
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
) -> ModelOutcome:
    """Encode, search and score one model on `evalset`."""
    start = time.perf_counter()
    try:
        model = load_sentence_model(spec.location())
    except Exception as exc:
        raise ModelError(f"cannot load model {spec.model}: {exc}") from exc
    results = dense_search(
        model,
        evalset.corpus,
        evalset.queries,
        top_k=top_k,
        doc_groups=evalset.doc_groups,
        query_groups=evalset.query_groups,
        batch_size=batch_size,
        on_progress=on_progress,
    )
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


def evaluate_models(
    evalset: EvalSet,
    specs: list[ModelSpec],
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 32,
    seed: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[ModelOutcome], Comparison | None]:
    """Evaluate each model; compare the first two (A = specs[0], B = specs[1]) if there are two.

    `on_progress(message, done, total)` reports encoding progress across all models.
    """
    outcomes = []
    for i, spec in enumerate(specs):
        prefix = f"[{i + 1}/{len(specs)}] {spec.label}"

        def step(stage: str, done: int, total: int, prefix: str = prefix) -> None:
            if on_progress:
                on_progress(f"{prefix}: encoding {stage} {done}/{total}", done, total)

        outcomes.append(evaluate_model(spec, evalset, top_k, batch_size, step))
    comparison = (
        compare(evalset, outcomes[0], outcomes[1], seed=seed) if len(outcomes) > 1 else None
    )
    return outcomes, comparison
