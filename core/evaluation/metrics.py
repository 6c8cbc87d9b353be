"""Retrieval metrics computed by BEIR's EvaluateRetrieval and pytrec_eval (never by hand).

Aggregates: nDCG, MAP, Recall and Precision at each k of `K_VALUES` (pytrec_eval via BEIR),
MRR@k (BEIR's custom metric) and MRR over the whole ranking (pytrec_eval `recip_rank`).
Per query: nDCG@10 and reciprocal rank, the inputs of the paired significance test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytrec_eval
from beir.retrieval.evaluation import EvaluateRetrieval

Qrels = dict[str, dict[str, int]]
Results = dict[str, dict[str, float]]

K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 100)
PER_QUERY_MEASURES = ("ndcg_cut_10", "recip_rank")


@dataclass
class Metrics:
    """Aggregate metrics (e.g. "NDCG@10", "MRR") and per-query values (e.g. per_query["ndcg@10"])."""

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    n_queries: int = 0

    def to_dict(self) -> dict:
        return {
            "aggregate": self.aggregate,
            "per_query": self.per_query,
            "n_queries": self.n_queries,
        }


def evaluate(
    qrels: Qrels,
    results: Results,
    k_values: tuple[int, ...] = K_VALUES,
    ignore_identical_ids: bool = True,
) -> Metrics:
    """All metrics of `results` against `qrels`.

    `ignore_identical_ids` drops hits whose id equals the query id (BEIR's default, which the
    published BEIR numbers use). Queries without judged relevant documents are left out, as
    pytrec_eval does; queries with no results count as zero.
    """
    qrels = {q: rels for q, rels in qrels.items() if any(r > 0 for r in rels.values())}
    # BEIR mutates `results` when ignoring identical ids: work on a copy. Queries that
    # retrieved nothing are given an empty run so they score 0 rather than disappear.
    run = copy.deepcopy({q: results.get(q, {}) for q in qrels})
    if ignore_identical_ids:
        run = {q: {d: s for d, s in hits.items() if d != q} for q, hits in run.items()}
    empty = [q for q, hits in run.items() if not hits]
    for q in empty:
        run[q] = {"__no_hit__": 0.0}  # pytrec_eval skips empty runs; a non-relevant dummy
    ks = list(k_values)
    ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(
        qrels, run, ks, ignore_identical_ids=False
    )
    mrr_at_k = EvaluateRetrieval.evaluate_custom(qrels, run, ks, metric="mrr")
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank"})
    scores = evaluator.evaluate(run)
    per_query = {
        "ndcg@10": {q: float(v["ndcg_cut_10"]) for q, v in scores.items()},
        "recip_rank": {q: float(v["recip_rank"]) for q, v in scores.items()},
    }
    aggregate: dict[str, float] = {}
    for part in (ndcg, _map, recall, precision, mrr_at_k):
        aggregate.update({name: float(v) for name, v in part.items()})
    n = len(scores)
    aggregate["MRR"] = round(sum(per_query["recip_rank"].values()) / n, 5) if n else 0.0
    return Metrics(aggregate=aggregate, per_query=per_query, n_queries=n)


METRIC_LABELS: dict[str, str] = {
    "NDCG": "nDCG",
    "Recall": "Recall",
    "MAP": "MAP",
    "P": "Precision",
    "MRR": "MRR",
}


def metric_table(
    aggregates: dict[str, dict[str, float]], k_values: tuple[int, ...] | list[int] = K_VALUES
) -> list[dict]:
    """Rows {model, metric, k, value} for tables and charts, from each model's aggregate
    metrics (`Metrics.aggregate`, as a report stores them) keyed by the model's label.

    Metrics follow `METRIC_LABELS` order (nDCG first); cut-offs a model lacks are left out.
    """
    rows = []
    for model, aggregate in aggregates.items():
        for prefix, label in METRIC_LABELS.items():
            for k in k_values:
                key = f"{prefix}@{k}"
                if key in aggregate:
                    rows.append({"model": model, "metric": label, "k": k, "value": aggregate[key]})
    return rows
