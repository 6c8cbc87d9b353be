"""What an evaluation says in words a newcomer understands: which retriever is best for these
documents and by how much, whether the tuned model beats keyword search, whether the
questions were too easy to tell (at the ceiling), and what to do next. Read from a report
payload (`report.build_payload`), so the Evaluate page, Home, the CLI and the Markdown report
say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METRIC = "NDCG@10"
# At the ceiling, the base model already ranks nearly every answer first or close: its Recall@3
# at or above CEILING_RECALL, or its nDCG@10 at or above CEILING_NDCG. Not Recall@10: a query
# limited to its own small group (a chapter of 10 passages) finds everything in 10 trivially.
CEILING_RECALL = 0.98
CEILING_NDCG = 0.92
GAIN_EPS = 0.005  # nDCG@10 differences below this count as no difference


@dataclass(frozen=True)
class Headline:
    """best: the label of the best retriever; tuned_gains: a tuned retriever (the run alone
    or fused) beats both the base model and every reference by more than GAIN_EPS;
    at_ceiling: the base model already finds nearly every answer; sentences: the words."""

    best: str
    best_kind: str
    n_queries: int
    tuned_gains: bool
    at_ceiling: bool
    sentences: list[str] = field(default_factory=list)
    next_step: str = ""


def describe(model: dict[str, Any]) -> str:
    """A retriever in plain words, with its label."""
    kind, label = model.get("kind", "dense"), model["label"]
    tuned = bool(model.get("run_id"))
    if kind == "bm25":
        return "keyword search (BM25)"
    if kind == "hybrid":
        who = f"the tuned model {model['run_id']}" if tuned else "the base model"
        return f"{who} fused with keyword search ({label}, weight {model.get('weight')})"
    return f"the tuned model {label}" if tuned else "the base model"


def _score(model: dict[str, Any]) -> float:
    return float(model["metrics"].get(METRIC, 0.0))


def _at_ceiling(base: dict[str, Any] | None) -> bool:
    if base is None:
        return False
    m = base["metrics"]
    return m.get("Recall@3", 0.0) >= CEILING_RECALL or m.get(METRIC, 0.0) >= CEILING_NDCG


def _versus_keyword(run: dict[str, Any], bm25: dict[str, Any], ref: dict | None) -> str:
    diff = _score(run) - _score(bm25)
    verb = "beats" if diff > GAIN_EPS else ("ties with" if diff >= -GAIN_EPS else "trails")
    text = (
        f"The tuned model alone {verb} keyword search: nDCG@10 {_score(run):.3f} against "
        f"BM25's {_score(bm25):.3f} ({diff:+.3f})."
    )
    if ref:
        sig = ref["significance"]
        verdict = "significant" if sig["significant"] else "not significant"
        text += (
            f" Against the best reference ({ref['label_a']}): {sig['diff']:+.3f}, "
            f"p = {sig['p_value']:.3f} ({verdict})."
        )
    return text


def headline(payload: dict[str, Any]) -> Headline:
    """The words of an evaluation report payload."""
    models = payload["models"]
    n = int(payload["dataset"].get("queries", 0))
    by_label = {m["label"]: m for m in models}
    base = by_label.get("base")
    best = max(models, key=_score)
    runs = [m for m in models if m.get("run_id")]
    ceiling = _at_ceiling(base)
    others = [m for m in models if not m.get("run_id")]
    top_other = max(others, key=_score) if others else None
    gains = bool(runs) and top_other is not None and _score(best) - _score(top_other) > GAIN_EPS
    gains = gains and bool(best.get("run_id"))
    lines = [
        f"Best for these documents: {describe(best)}, nDCG@10 {_score(best):.3f} on {n} questions."
    ]
    if top_other is not None and best is not top_other:
        lines[0] += f" That is {_score(best) - _score(top_other):+.3f} over {describe(top_other)}."
    bm25 = by_label.get("bm25")
    run_alone = next((m for m in runs if m.get("kind", "dense") == "dense"), None)
    if run_alone and bm25:
        lines.append(_versus_keyword(run_alone, bm25, payload.get("reference_comparison")))
    if ceiling and base is not None:
        lines.append(
            f"These questions are too easy to tell the retrievers apart: the base model already "
            f"ranks nearly every answer near the top (Recall@3 "
            f"{base['metrics'].get('Recall@3', 0):.3f}, "
            f"nDCG@10 {_score(base):.3f}). Score on harder, real questions to see a difference."
        )
    if gains:
        step = "export"
    elif runs:
        step = "improve"
    else:
        step = "train"
    return Headline(
        best=best["label"],
        best_kind=best.get("kind", "dense"),
        n_queries=n,
        tuned_gains=gains and not ceiling,
        at_ceiling=ceiling,
        sentences=lines,
        next_step=step,
    )
