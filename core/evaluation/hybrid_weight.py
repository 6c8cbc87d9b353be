"""Choosing a run's fusion weight without test questions.

The rule: the even mix (`DEFAULT_WEIGHT`), unless the workspace's validation split (documents
the run never trained on) holds at least `MIN_QUESTIONS` real or LLM-written questions; then
the weight of `WEIGHT_GRID` that scores best on them with the run fused with bm25 (ties go to
the even mix). Inverse-cloze pseudo-queries never choose: a sentence of its own passage is
found trivially by keyword search, and even with the sentence cut out of its passage they
picked a worse weight than the even mix on real questions (syllabusqa-train's first 12
syllabi: 0.4, nDCG@10 0.785, against 0.791 at 0.5; bench/RESULTS_hybrid.md). A query that
appears verbatim in its positive passage is taken for inverse cloze.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from core.evaluation.compare import SetRetrievers, run_spec
from core.evaluation.datasets import DatasetError, EvalSet, workspace_set
from core.evaluation.metrics import evaluate
from core.retrieval.base import Hits, to_results
from core.retrieval.fusion import DEFAULT_WEIGHT, FUSION_DEPTH, FusionMethod, fuse_hits
from core.retrieval.recipe import Recipe, recipe_home, stored_recipe, write_recipe
from core.store import Workspace

WEIGHT_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
MIN_QUESTIONS = 30  # fewer validation questions than this: too noisy to move off the even mix
METRIC = "NDCG@10"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def is_sentence_of_passage(query: str, passage: str) -> bool:
    """Whether `query` appears verbatim (spaces aside) in `passage`: an inverse-cloze query."""
    needle = _squash(query)
    return bool(needle) and needle in _squash(passage)


def questions_only(evalset: EvalSet) -> EvalSet:
    """The set without its inverse-cloze queries (a query that is a sentence of a relevant
    passage): the real or LLM-written questions."""
    keep = {
        qid: q
        for qid, q in evalset.queries.items()
        if not any(
            is_sentence_of_passage(q, evalset.corpus.get(d, {}).get("text", ""))
            for d in evalset.qrels.get(qid, {})
        )
    }
    qrels = {qid: evalset.qrels[qid] for qid in keep if qid in evalset.qrels}
    groups = evalset.query_groups
    return replace(
        evalset,
        queries=keep,
        qrels=qrels,
        query_groups=None if groups is None else {q: groups[q] for q in keep if q in groups},
    )


def cut_query_sentences(evalset: EvalSet) -> tuple[EvalSet, int]:
    """The set with every query that appears verbatim in one of its relevant passages cut out
    of that passage; and how many were cut (the measured lever that lost: see the module
    docstring; `bench/bench_hybrid.py` reports it)."""
    corpus = {d: dict(doc) for d, doc in evalset.corpus.items()}
    cut = 0
    for qid, query in evalset.queries.items():
        needle = _squash(query)
        for doc_id in evalset.qrels.get(qid, {}):
            doc = corpus.get(doc_id)
            if doc is None or not needle:
                continue
            text = _squash(doc.get("text", ""))
            if is_sentence_of_passage(needle, text):
                doc["text"] = _squash(text.replace(needle, " "))
                cut += 1
    return replace(evalset, corpus=corpus, name=f"{evalset.name} (cut)"), cut


def weight_curve(
    evalset: EvalSet,
    dense_hits: Hits,
    bm25_hits: Hits,
    method: FusionMethod = "minmax",
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> dict[float, float]:
    """nDCG@10 of the dense model fused with bm25 at each weight of `grid`."""
    query_ids, doc_ids = list(evalset.queries), list(evalset.corpus)
    out = {}
    for weight in grid:
        fused = fuse_hits(dense_hits, bm25_hits, weight, method, FUSION_DEPTH)
        metrics = evaluate(evalset.qrels, to_results(query_ids, doc_ids, fused))
        out[weight] = metrics.aggregate[METRIC]
    return out


def best_weight(curve: dict[float, float]) -> float:
    """The weight with the best score; ties go to the one nearest the even mix."""
    return max(curve, key=lambda w: (round(curve[w], 6), -abs(w - DEFAULT_WEIGHT)))


def set_hits(evalset: EvalSet, retrievers: SetRetrievers, spec: Any) -> tuple[Hits, Hits]:
    """The dense model's and bm25's hits on every query of the set, at the fusion depth."""
    from core.evaluation.search import query_groups_of

    query_ids = list(evalset.queries)
    texts = [evalset.queries[q] for q in query_ids]
    groups = query_groups_of(evalset, query_ids)
    dense = retrievers.of(spec).search(texts, FUSION_DEPTH, groups)
    keyword = retrievers.bm25().search(texts, FUSION_DEPTH, groups)
    return dense, keyword


def choose_recipe(
    ws: Workspace, run_id: str, method: FusionMethod = "minmax", min_questions: int = MIN_QUESTIONS
) -> Recipe:
    """The recipe of run `run_id` by the rule of the module docstring."""
    try:
        evalset = questions_only(workspace_set(ws, "validation"))
    except DatasetError:
        evalset = None
    n = len(evalset.queries) if evalset is not None else 0
    if evalset is None or n < min_questions:
        return Recipe(
            method=method,
            rule=f"fixed even mix ({n} real or LLM validation questions, fewer than "
            f"{min_questions} to choose on)",
        )
    return curve_recipe(ws, run_id, evalset, method, f"{n} real or LLM validation questions")


def curve_recipe(
    ws: Workspace, run_id: str, evalset: EvalSet, method: FusionMethod, what: str
) -> Recipe:
    """The best weight of the grid for the run fused with bm25 on `evalset`."""
    retrievers = SetRetrievers(evalset, ws)
    dense, keyword = set_hits(evalset, retrievers, run_spec(ws, run_id))
    curve = weight_curve(evalset, dense, keyword, method)
    return Recipe(
        method=method,
        weight=best_weight(curve),
        rule=f"validation: best of {len(WEIGHT_GRID)} weights on {what}",
        measured={f"{w:.1f}": {METRIC: round(v, 4)} for w, v in curve.items()},
        measured_on=evalset.name,
    )


def ensure_recipe(ws: Workspace, run_id: str) -> Recipe:
    """The recipe of `run_id`: stored, or chosen now by the rule for the run it comes from
    (a final fit's split run, a merge's run) and stored there."""
    found = stored_recipe(ws, run_id)
    if found is not None:
        return found
    home = recipe_home(ws, run_id)
    try:
        recipe = choose_recipe(ws, home)
    except Exception as exc:  # the recipe is advice: an evaluation or export stands without it
        recipe = Recipe(rule=f"fixed (choosing failed: {exc})")
    write_recipe(ws, home, recipe)
    return recipe
