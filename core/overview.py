"""The workspace at a glance: counts per pipeline step and the next step to take (the Home page's
queries; no Streamlit)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.runs import list_runs
from core.store import Workspace


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
    exports = ws.root / "exports"
    out["exports"] = (
        sum(1 for p in exports.iterdir() if not p.name.startswith(".")) if (exports.is_dir()) else 0
    )
    return out


def next_step(c: dict[str, int]) -> NextStep | None:
    """The first pipeline step not done yet; None when everything has been done once."""
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
    if c.get("exports", 0) == 0:
        return NextStep("export", "Export the model", "Package the tuned model as ONNX.")
    return None
