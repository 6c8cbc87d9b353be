"""The model card (README.md) written into every export.

Sections: what the model is (base model, run, formats), training data counts, loss and settings,
metrics base vs tuned (from the run's metrics.json and the workspace's evaluations), export
parity, how to use it, and limitations. Missing sources leave a plain "not recorded" line
rather than an error: a card for a run trained elsewhere is still useful.
Not sentence-transformers' card machinery (core/training/card.py uses it for the model folder):
this card describes ONNX files, their parity and serving, for which ST's card data has no fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.export.hybrid import card_section
from core.runs import RunFolder
from core.store import Workspace

# Settings shown in the card (TrainConfig fields), in this order, when the run recorded them.
_SETTINGS = (
    "loss",
    "preset",
    "epochs",
    "max_steps",
    "batch_size",
    "learning_rate",
    "warmup_ratio",
    "scale",
    "max_seq_length",
    "negatives_per_query",
    "in_batch_negatives",
    "moe",
    "kind_weights",
    "seed",
)
_PREFERRED_METRICS = ("ndcg@10", "recall@10", "mrr@10", "map@10", "precision@1", "recall@100")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def _pick(metrics: dict[str, float], limit: int = 8) -> list[str]:
    chosen = [k for p in _PREFERRED_METRICS for k in metrics if k.lower().endswith(p)]
    chosen = list(dict.fromkeys(chosen))
    return chosen[:limit] if chosen else list(metrics)[:limit]


def _table(base: dict[str, Any], tuned: dict[str, Any]) -> list[str]:
    fb, ft = _flatten(base), _flatten(tuned)
    keys = [k for k in _pick(ft or fb) if k in fb or k in ft]
    if not keys:
        return []
    lines = ["| metric | base | tuned | Δ |", "|---|---|---|---|"]
    for k in keys:
        b, t = fb.get(k), ft.get(k)
        delta = f"{t - b:+.4f}" if b is not None and t is not None else ""
        lines.append(
            f"| {k} | {'' if b is None else f'{b:.4f}'} | {'' if t is None else f'{t:.4f}'} | {delta} |"
        )
    return lines


def _evaluation_rows(ws: Workspace | None, run_id: str) -> list[dict[str, Any]]:
    if ws is None or not run_id:
        return []
    out = []
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT created_at, dataset, models, metrics FROM evaluations ORDER BY id DESC"
        ).fetchall()
    for row in rows:
        try:
            models, metrics = json.loads(row["models"]), json.loads(row["metrics"])
        except ValueError:
            continue
        if run_id in models:
            out.append(
                {
                    "dataset": row["dataset"],
                    "models": models,
                    "metrics": metrics,
                    "created_at": row["created_at"],
                }
            )
    return out


def workspace_counts(ws: Workspace | None) -> dict[str, int]:
    """Documents, chunks, curated pairs per split and mined negatives of the workspace."""
    if ws is None:
        return {}
    counts = {k: v for k, v in ws.counts().items() if k in ("documents", "chunks", "negatives")}
    with ws.connect() as conn:
        for row in conn.execute(
            "SELECT split, COUNT(*) AS n FROM pairs WHERE status IN ('accepted','edited')"
            " GROUP BY split"
        ):
            counts[f"curated_pairs_{row['split']}"] = row["n"]
    return counts


def build_model_card(
    *,
    run_id: str,
    base_model: str,
    run_dir: Path | None,
    ws: Workspace | None,
    formats: list[str],
    parity: dict[str, dict[str, Any]],
    run_row: dict[str, Any] | None = None,
    dim: int | None = None,
    max_seq_length: int | None = None,
    retrieval: dict[str, Any] | None = None,
) -> str:
    """Markdown text of the card. `parity` maps a format name to ParityResult.to_dict()."""
    run = RunFolder(run_dir) if run_dir else None
    config = _read_json(run.config) if run else {}
    metrics = _read_json(run.metrics) if run else {}
    if not config and run_row and run_row.get("config"):
        config = json.loads(run_row["config"]) if isinstance(run_row["config"], str) else {}
    if not metrics and run_row and run_row.get("metrics"):
        metrics = json.loads(run_row["metrics"]) if isinstance(run_row["metrics"], str) else {}
    loss = config.get("loss") or (run_row or {}).get("loss") or "not recorded"

    lines = [
        f"# {run_id}: domain-tuned sentence embedding model (ONNX)",
        "",
        f"Fine-tuned from **{base_model}** with Domain Embedding Studio (run `{run_id}`), "
        f"exported as {', '.join(formats)}. The graph includes mean pooling and L2 "
        "normalisation: its output `sentence_embedding` is the final, unit-length embedding, so "
        "cosine similarity is a dot product.",
        "",
        f"- Embedding size: {dim or 'n/a'}; max input: {max_seq_length or 'n/a'} tokens "
        "(longer texts are truncated)",
        "",
        "## Training data",
    ]
    data = {**workspace_counts(ws), **(metrics.get("data") or {})}
    if data:
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in data.items() if v is not None]
    else:
        lines.append("- not recorded")
    lines += ["", "## Loss and settings", f"- loss: **{loss}**"]
    lines += [f"- {k}: {config[k]}" for k in _SETTINGS if k in config and k != "loss"]
    for key in ("steps", "train_seconds", "train_loss"):
        if key in metrics:
            lines.append(f"- {key.replace('_', ' ')}: {metrics[key]}")

    lines += ["", "## Metrics: base vs tuned"]
    n_tables = 0
    table = _table(metrics.get("validation_base") or {}, metrics.get("validation") or {})
    if table:
        lines += ["Validation split of the workspace (during training):", "", *table]
        n_tables += 1
    for ev in _evaluation_rows(ws, run_id)[:3]:
        labelled = {k: v for k, v in ev["metrics"].items() if isinstance(v, dict)}
        labelled.pop("comparison", None)
        tuned = labelled.pop(run_id, {})
        base = next(iter(labelled.values()), {})
        rows = _table(base, tuned)
        if rows:
            lines += ["", f"Evaluation on **{ev['dataset']}** ({ev['created_at']}):", "", *rows]
            n_tables += 1
    if not n_tables:
        lines.append("- not recorded: run `embstudio evaluate WS --run RUN` to add them")

    lines += ["", "## Export parity (cosine per text vs the PyTorch model)", ""]
    lines += ["| format | texts | mean | min | required mean |", "|---|---|---|---|---|"]
    for fmt, p in parity.items():
        lines.append(f"| {fmt} | {p['n']} | {p['mean']:.5f} | {p['min']:.4f} | {p['threshold']} |")
    if retrieval:
        lines += ["", *card_section(retrieval, run_id)]
    lines += [
        "",
        "## Use",
        "```bash",
        "embstudio serve onnx --port 8000      # OpenAI-compatible POST /v1/embeddings",
        "```",
        "```python",
        "from openai import OpenAI",
        'client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")',
        f'client.embeddings.create(model="{run_id}", input=["a query"]).data[0].embedding',
        "```",
        "",
        "## Limitations",
        "- Tuned on one workspace's documents and mostly synthetic questions: expect gains on "
        "that domain and possibly small losses elsewhere (see the general-set evaluation).",
        f"- Inputs beyond {max_seq_length or 'the maximum'} tokens are cut; embed long documents "
        "as chunks.",
        "- The int8 variant trades a little accuracy (see the parity table) for speed on CPU.",
        "- Inherits the biases and language coverage (mostly English) of the base model.",
        "",
    ]
    return "\n".join(lines)
