"""What an export says about searching with its model: the run's retrieval recipe (method,
weight, normalisation), the table it was measured on, and the settings that reproduce it in
the stacks users run (LangChain, LlamaIndex, OpenSearch, Weaviate). Where the model alone
retrieved best, it says so instead of recommending a fusion.
"""

from __future__ import annotations

import json
from typing import Any

from core.evaluation.hybrid_weight import ensure_recipe
from core.runs import final_of
from core.store import Workspace

TABLE_METRICS = ("NDCG@10", "Recall@3")


def measured_table(ws: Workspace, run_id: str) -> tuple[str, dict[str, dict[str, float]]]:
    """(dataset, {label: metrics}) of the newest evaluation that scored `run_id` (or, for a
    final fit, its split run) beside the references; ("", {}) when none did."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT dataset, models, metrics FROM evaluations ORDER BY id DESC"
        ).fetchall()
    for wanted in (run_id, final_of(ws, run_id)):
        for row in rows:
            try:
                models, metrics = json.loads(row["models"]), json.loads(row["metrics"])
            except ValueError:
                continue
            if wanted and wanted in models and "bm25" in metrics:
                table = {
                    label: {k: float(v[k]) for k in TABLE_METRICS if k in v}
                    for label, v in metrics.items()
                    if label != "comparison" and isinstance(v, dict)
                }
                return row["dataset"], table
    return "", {}


def recommendation(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The export's retrieval advice: {method, weight, normalization, rule, measured_on,
    table, best, use ("hybrid" | "model alone" | "not measured")}."""
    recipe = ensure_recipe(ws, run_id)
    dataset, table = measured_table(ws, run_id)
    best = max(table, key=lambda k: table[k].get("NDCG@10", 0.0)) if table else ""
    alone = best and not best.endswith("+bm25") and best not in ("bm25",)
    return {
        "method": recipe.method,
        "weight": recipe.weight,
        "normalization": "min-max" if recipe.method == "minmax" else "reciprocal rank (k 60)",
        "rule": recipe.rule,
        "measured_on": dataset,
        "table": table,
        "best": best,
        "use": "not measured" if not table else ("model alone" if alone else "hybrid"),
    }


def stack_settings(weight: float) -> dict[str, str]:
    """The settings that fuse the served model with keyword search at `weight` in each stack."""
    w, k = round(weight, 2), round(1 - weight, 2)
    return {
        "LangChain": (
            f"EnsembleRetriever(retrievers=[dense, bm25], weights=[{w}, {k}])  "
            "# weighted reciprocal rank fusion (the recipe's rrf)"
        ),
        "LlamaIndex": (
            f"QueryFusionRetriever([dense, bm25], retriever_weights=[{w}, {k}], "
            'mode="relative_score", num_queries=1)  # min-max, weighted sum'
        ),
        "OpenSearch": (
            '{"normalization": {"technique": "min_max"}, "combination": {"technique": '
            f'"arithmetic_mean", "parameters": {{"weights": [{w}, {k}]}}}}}}  '
            "# normalization-processor; the neural query first, the match query second"
        ),
        "Weaviate": f"collection.query.hybrid(query, alpha={w}, fusion_type=HybridFusion.RELATIVE_SCORE)",
    }


def card_section(advice: dict[str, Any], run_id: str) -> list[str]:
    """The model card's "Search with it" section."""
    lines = ["## Search with it: the retrieval recipe", ""]
    table = advice["table"]
    if table:
        lines += [f"Measured on **{advice['measured_on']}**:", ""]
        lines += ["| retriever | nDCG@10 | Recall@3 |", "|---|---:|---:|"]
        for label, m in table.items():
            mark = " (best)" if label == advice["best"] else ""
            lines.append(
                f"| {label}{mark} | {m.get('NDCG@10', 0):.3f} | {m.get('Recall@3', 0):.3f} |"
            )
        lines.append("")
    if advice["use"] == "model alone":
        lines.append(
            f"The served model alone retrieved best here ({advice['best']}): search with it "
            "alone; fusing it with keyword search did not help on these questions."
        )
        return [*lines, ""]
    lines.append(
        f"Fuse it with keyword search (BM25): {advice['normalization']} scores, weight "
        f"**{advice['weight']}** on this model and {round(1 - advice['weight'], 2)} on BM25 "
        f"(chosen by: {advice['rule']})."
        + ("" if table else " Not measured on real questions yet: run `embstudio evaluate`.")
    )
    lines += ["", "The same fusion in the stacks you may run:", ""]
    lines += [f"- {stack}: `{code}`" for stack, code in stack_settings(advice["weight"]).items()]
    return [*lines, ""]
