"""Evaluation reports: one JSON with every number and the run configs, a Markdown and an HTML
rendering, written to `WS/evaluations/<id>/`, and a row in the `evaluations` table."""

from __future__ import annotations

import contextlib
import html
import json
import time
import uuid
from typing import Any

from core.evaluation.compare import Comparison, ModelOutcome
from core.evaluation.datasets import EvalSet
from core.evaluation.headline import describe, headline
from core.evaluation.metrics import K_VALUES, METRIC_LABELS, metric_table
from core.runs import get_run
from core.store import Workspace, now_iso


def run_configs(ws: Workspace, run_ids: list[str]) -> dict[str, Any]:
    """Each run's row (base model, loss, config JSON, status; core.runs) for the report."""
    out: dict[str, Any] = {}
    for rid in run_ids:
        item = get_run(ws, rid)
        if item is not None:
            for key in ("config", "metrics"):
                with contextlib.suppress(ValueError):
                    item[key] = json.loads(item.get(key) or "{}")
            out[rid] = item
    return out


def build_payload(
    ws: Workspace | None,
    evalset: EvalSet,
    outcomes: list[ModelOutcome],
    comparison: Comparison | None,
    config: dict[str, Any],
    reference_comparison: Comparison | None = None,
) -> dict[str, Any]:
    """Everything measured, as plain JSON-able data. `comparison`: B against A (the run
    against the base); `reference_comparison`: the run against the best reference (bm25 or
    base+bm25)."""
    run_ids = [o.spec.run_id for o in outcomes if o.spec.run_id]
    return {
        "id": f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        "created_at": now_iso(),
        "dataset": evalset.summary(),
        "config": {**config, "k_values": list(K_VALUES)},
        "models": [{**o.summary(), "per_query": o.metrics.per_query} for o in outcomes],
        "comparison": comparison.to_dict() if comparison else None,
        "reference_comparison": (reference_comparison.to_dict() if reference_comparison else None),
        "run_configs": run_configs(ws, run_ids) if ws is not None else {},
    }


def metric_long_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's metrics as {model, metric, k, value} rows (`metrics.metric_table`)."""
    aggregates = {m["label"]: m["metrics"] for m in payload["models"]}
    return metric_table(aggregates, payload["config"]["k_values"])


SUMMARY_METRICS = ("NDCG@10", "Recall@3", "Recall@10", "MRR@10")


def retriever_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per retriever (base, the run, bm25, base+bm25, RUN+bm25): its label, what it
    is in words, and the summary metrics; the best nDCG@10 marked."""
    best = max((m["metrics"].get("NDCG@10", 0.0) for m in payload["models"]), default=0.0)
    return [
        {
            "retriever": m["label"],
            "what": describe(m),
            **{k: m["metrics"].get(k) for k in SUMMARY_METRICS},
            "best": "★" if m["metrics"].get("NDCG@10", 0.0) == best else "",
        }
        for m in payload["models"]
    ]


def metrics_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model: label, then every aggregate metric."""
    return [{"model": m["label"], **m["metrics"]} for m in payload["models"]]


def to_markdown(payload: dict[str, Any]) -> str:
    ds = payload["dataset"]
    lines = [
        f"# Evaluation {payload['id']}",
        "",
        *headline(payload).sentences,
        "",
        f"Dataset **{ds['name']}**: {ds['queries']} queries, {ds['documents']} documents"
        + (", candidates restricted to each query's group" if ds.get("grouped") else "")
        + f". Created {payload['created_at']}.",
        "",
        "## Models",
        "",
    ]
    for m in payload["models"]:
        lines.append(f"- **{m['label']}**: `{m['model']}` ({m['seconds']} s)")
    ks = payload["config"]["k_values"]
    lines += ["", "## Metrics", ""]
    header = ["model", "metric", *[f"@{k}" for k in ks]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in payload["models"]:
        for prefix, name in METRIC_LABELS.items():
            vals = [m["metrics"].get(f"{prefix}@{k}") for k in ks]
            cells = ["" if v is None else f"{v:.4f}" for v in vals]
            lines.append(f"| {m['label']} | {name} | " + " | ".join(cells) + " |")
    for m in payload["models"]:
        lines.append(f"\nMRR (full ranking) of {m['label']}: {m['metrics'].get('MRR', 0):.4f}")
    cmp = payload.get("comparison")
    if cmp:
        lines += [
            "",
            "## Base vs tuned",
            "",
            cmp["significance_sentence"],
            "",
            f"Per query on nDCG@10: {cmp['wins']} wins, {cmp['losses']} losses, "
            f"{cmp['ties']} ties for {cmp['label_b']} against {cmp['label_a']}.",
            "",
        ]
        changed = [q for q in cmp["queries"] if q["outcome"] != "tie"]
        for title, rows in (
            ("Largest losses", [q for q in changed if q["delta"] < 0][:5]),
            ("Largest wins", [q for q in reversed(changed) if q["delta"] > 0][:5]),
        ):
            lines += [f"### {title}", ""]
            for q in rows:
                lines.append(
                    f"- *{q['query']}* — nDCG@10 {q['ndcg_a']:.3f} → {q['ndcg_b']:.3f}; "
                    f"relevant: {q['relevant'][0]['text'][:120] if q['relevant'] else ''}"
                )
            lines.append("")
    ref = payload.get("reference_comparison")
    if ref:
        lines += [
            "## The tuned model against the best reference",
            "",
            ref["significance_sentence"],
            "",
            f"Per query on nDCG@10: {ref['wins']} wins, {ref['losses']} losses, "
            f"{ref['ties']} ties for {ref['label_b']} against {ref['label_a']}.",
            "",
        ]
    if payload.get("run_configs"):
        lines += ["## Run configs", "", "```json", json.dumps(payload["run_configs"], indent=2)]
        lines += ["```", ""]
    return "\n".join(lines) + "\n"


def to_html(payload: dict[str, Any]) -> str:
    """A self-contained HTML page: the Markdown inside <pre>, plus the metrics table."""
    rows = metrics_rows(payload)
    cols = list(rows[0]) if rows else []
    table = "<table border=1 cellpadding=4><tr>" + "".join(
        f"<th>{html.escape(c)}</th>" for c in cols
    )
    table += "</tr>"
    for r in rows:
        table += (
            "<tr>"
            + "".join(
                f"<td>{r[c]:.4f}</td>"
                if isinstance(r[c], float)
                else f"<td>{html.escape(str(r[c]))}</td>"
                for c in cols
            )
            + "</tr>"
        )
    table += "</table>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(payload['id'])}</title></head><body>"
        f"<h1>Evaluation {html.escape(payload['id'])}</h1>{table}"
        f"<pre style='white-space:pre-wrap'>{html.escape(to_markdown(payload))}</pre></body></html>"
    )


def save_report(ws: Workspace, payload: dict[str, Any]) -> dict[str, str]:
    """Write report.json/.md/.html under WS/evaluations/<id>/ and insert an `evaluations` row.
    Returns the paths relative to the workspace."""
    folder = ws.evaluation_dir(payload["id"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "report.json",
        "markdown": folder / "report.md",
        "html": folder / "report.html",
    }
    paths["json"].write_text(json.dumps(payload, indent=1, default=str))
    paths["markdown"].write_text(to_markdown(payload))
    paths["html"].write_text(to_html(payload))
    rel = {k: ws.relative(p) for k, p in paths.items()}
    summary = {m["label"]: m["metrics"] for m in payload["models"]}
    if payload.get("comparison"):
        cmp = payload["comparison"]
        summary["comparison"] = {
            k: cmp[k] for k in ("label_a", "label_b", "wins", "losses", "ties", "significance")
        }
    with ws.connect() as conn:
        cur = conn.execute(
            "INSERT INTO evaluations (created_at, dataset, models, metrics, report_path)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                payload["created_at"],
                payload["dataset"]["name"],
                json.dumps([m["run_id"] or m["model"] or m["label"] for m in payload["models"]]),
                json.dumps(summary),
                rel["json"],
            ),
        )
    rel["evaluation_row"] = str(cur.lastrowid)
    return rel


def list_evaluations(ws: Workspace) -> list[dict[str, Any]]:
    """Evaluations newest first (id, created_at, dataset, models, report_path)."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT id, created_at, dataset, models, report_path FROM evaluations ORDER BY id DESC"
        ).fetchall()
    return [dict(r) for r in rows]


def load_report(ws: Workspace, report_path: str) -> dict[str, Any]:
    return json.loads(ws.resolve(report_path).read_text())
