"""The workspace at a glance: counts per pipeline step, the one-click pipeline's result in
plain words, and the next step to take (the Home page's queries and words; no Streamlit)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from core.evaluation.headline import Headline
from core.runs import list_runs
from core.store import Workspace

UNTUNED = ("base", "bm25", "base+bm25")  # the labels of the retrievers no run is part of


@dataclass(frozen=True)
class NextStep:
    page: str  # key of ui.nav's page: documents | pairs | negatives | train | evaluate | export
    label: str  # button text
    why: str  # one sentence: what is missing


def _scalar(conn: sqlite3.Connection, sql: str) -> int:
    try:
        return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.Error:  # a table added by a later migration may be missing in old workspaces
        return 0


def overview(ws: Workspace) -> dict[str, int]:
    """`ws.counts()` plus curated pairs, finished runs, evaluations and exports."""
    out = dict(ws.counts())
    out["pairs_curated"] = out.get("pairs_accepted", 0) + out.get("pairs_edited", 0)
    with ws.connect() as conn:
        out["evaluations"] = _scalar(conn, "SELECT COUNT(*) FROM evaluations")
        out["minings"] = _scalar(conn, "SELECT COUNT(*) FROM minings")
    out["runs_succeeded"] = len(list_runs(ws, status="succeeded"))
    exports = ws.exports_dir
    out["exports"] = (
        sum(1 for p in exports.iterdir() if not p.name.startswith(".")) if (exports.is_dir()) else 0
    )
    return out


def plural(n: int, word: str, words: str | None = None) -> str:
    """ "1 run", "2 runs", "0 runs" ("1 query", "2 queries" with `words`)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def retriever_words(model: dict[str, Any]) -> str:
    """A retriever of an evaluation (its `label`, `kind`, `run_id`) in a newcomer's words."""
    kind, tuned = model.get("kind", "dense"), bool(model.get("run_id"))
    if kind == "bm25":
        return "keyword search (BM25)"
    if kind == "hybrid":
        return "the tuned model + keyword search" if tuned else "the base model + keyword search"
    return "the tuned model" if tuned else "the base model (not fine-tuned)"


def result_words(result: dict[str, Any]) -> list[str]:
    """The one-click pipeline's result (`core.auto.summary`) in sentences: which retriever is
    best, by how much, on how many questions; when the questions are too easy to tell (the
    base model at its ceiling), that first. Empty for a result without its headline."""
    head, models = result.get("headline"), result.get("models") or []
    metrics = result.get("metrics") or {}
    if not head or not models or any(m["label"] not in metrics for m in models):
        return []
    h = Headline(**head)

    def score(m: dict[str, Any]) -> float:
        return float(metrics[m["label"]].get("NDCG@10", 0.0))

    by_label = {m["label"]: m for m in models}
    best = by_label[h.best]
    n = h.n_queries
    if result.get("dataset") == "beir":
        asked = f"{plural(n, 'real question')} about these documents"
    else:
        asked = (
            f"{plural(n, 'held-out test question')} (sentences of documents kept out of training)"
        )
    lead = f"Best retriever on {asked}: {retriever_words(best)}, nDCG@10 {score(best):.3f}"
    tuned = [m for m in models if m.get("run_id")]
    untuned = [m for m in models if not m.get("run_id")]
    if best.get("run_id") and untuned:
        ref = max(untuned, key=score)
        lead += (
            f", {score(best) - score(ref):+.3f} over the best retriever without fine-tuning, "
            f"{retriever_words(ref)} ({score(ref):.3f})"
        )
        lead += "." if h.tuned_gains or h.at_ceiling else ": too small a difference to count."
    elif tuned:
        top = max(tuned, key=score)
        lead += (
            f". Fine-tuning did not beat it: the best tuned retriever, {retriever_words(top)}, "
            f"scores {score(top):.3f} ({score(top) - score(best):+.3f})."
        )
    else:
        lead += "."
    lines = [lead]
    if h.at_ceiling:
        base = metrics.get("base", {})
        lines.insert(
            0,
            f"These questions are too easy to tell the retrievers apart: the base model already "
            f"ranks nearly every answer near the top (Recall@3 {base.get('Recall@3', 0.0):.3f}, "
            f"nDCG@10 {base.get('NDCG@10', 0.0):.3f}), so the comparison shows nothing either "
            "way. Score on harder, real questions.",
        )
    return lines


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per retriever of the pipeline's evaluation: who, label, nDCG@10, Recall@3."""
    metrics = result.get("metrics") or {}
    return [
        {
            "retriever": retriever_words(m),
            "label": m["label"],
            "nDCG@10": metrics.get(m["label"], {}).get("NDCG@10"),
            "Recall@3": metrics.get(m["label"], {}).get("Recall@3"),
        }
        for m in result.get("models") or []
    ]


def advice(h: Headline) -> NextStep:
    """What to do after an evaluation: export when a tuned retriever gained, else what to try."""
    better_questions = (
        "Import real questions with their answer passages, or write LLM questions, on the "
        "Pairs page, then train again."
    )
    if h.tuned_gains:
        return NextStep(
            "export",
            "Export the tuned model",
            "A tuned retriever is the best on these questions: package the final fit as ONNX"
            + (" with its keyword-search recipe." if h.best_kind == "hybrid" else "."),
        )
    if h.next_step == "train":
        return NextStep("train", "Train a model", "No tuned model has been evaluated yet.")
    if h.at_ceiling:
        return NextStep(
            "pairs",
            "Import real questions",
            "These questions are too easy to tell the retrievers apart. " + better_questions,
        )
    if h.best_kind == "bm25":
        why = "Keyword search beats the tuned model on these documents."
    elif h.best_kind == "hybrid" and h.best in UNTUNED:
        return NextStep(
            "pairs",
            "Write better training questions",
            "The base model fused with keyword search is the best: your search stack can run "
            "that hybrid today, no fine-tuning needed. To beat it with a tuned model, import "
            "real questions with their answer passages, or write LLM questions, on the Pairs "
            "page, then train again.",
        )
    else:
        why = "Fine-tuning on pseudo-queries did not clearly beat the retrievers you already have."
    return NextStep("pairs", "Write better training questions", f"{why} {better_questions}")


def next_step(c: dict[str, int], evaluation: Headline | None = None) -> NextStep | None:
    """The first pipeline step not done yet; after an evaluation, what its result advises
    (`evaluation`: the latest evaluation's headline; `advice`); None when everything has
    been done once."""
    if c.get("documents", 0) == 0:
        return NextStep("documents", "Upload documents", "The workspace has no documents yet.")
    if c.get("pairs", 0) == 0:
        return NextStep(
            "pairs", "Generate training queries", "Your chunks have no questions written yet."
        )
    if c.get("pairs_curated", 0) == 0:
        return NextStep(
            "pairs", "Review the pairs", "No pair is accepted yet: review and accept some."
        )
    if c.get("negatives", 0) == 0 and c.get("minings", 0) == 0:
        return NextStep(
            "negatives", "Mine hard negatives", "Curated pairs have no hard negatives yet."
        )
    if c.get("runs_succeeded", 0) == 0:
        return NextStep("train", "Train a model", "No model has been fine-tuned yet.")
    if c.get("evaluations", 0) == 0:
        return NextStep("evaluate", "Evaluate", "Compare the tuned model with the base model.")
    if evaluation is not None and not evaluation.tuned_gains:
        return advice(evaluation)
    if c.get("exports", 0) == 0:
        if evaluation is not None:
            return advice(evaluation)
        return NextStep("export", "Export the model", "Package the tuned model as ONNX.")
    return None


def latest_headline(ws: Workspace) -> Headline | None:
    """The headline of the newest stored evaluation, or None."""
    from core.evaluation.headline import headline
    from core.evaluation.report import list_evaluations, load_report

    evaluations = list_evaluations(ws)
    if not evaluations:
        return None
    try:
        return headline(load_report(ws, evaluations[0]["report_path"]))
    except (OSError, ValueError, KeyError):
        return None
