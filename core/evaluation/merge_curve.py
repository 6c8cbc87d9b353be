"""The merge curve: how a mix of base and tuned weights trades the domain for the general set.

For each alpha in ALPHAS the mix `(1-alpha)·base + alpha·tuned` (`core.training.merge`) is
evaluated on a domain set (the workspace's held-out split or a BEIR folder, params as for
`runner.load_evalset`) and on a general set (a BEIR folder, SciFact by default; when none is
there, `core.evaluation.general_data`, the curve runs on the domain alone and its
`general_note` says why). alpha = 0 is
the base model and 1 the run itself, so only the mixes in between are made (as runs
`RUN-mixNN`, which then evaluate, export and serve like any run). Corpus embeddings go
through `core.embedding_cache`. The curve is written to
`WS/evaluations/merge-curves/<RUN>-<sets key>.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import runs
from core.evaluation.compare import ModelSpec, SetRetrievers, run_spec
from core.evaluation.datasets import EvalSet, general_set
from core.evaluation.general_data import GeneralSetMissing, configured_dir
from core.evaluation.metrics import evaluate
from core.evaluation.runner import load_evalset, refuse_final_fits
from core.evaluation.search import search_set
from core.store import Workspace, now_iso

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # weight of the tuned model at each point of the curve
METRIC = "NDCG@10"  # the metric drawn on both axes

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CurveSettings:
    """run_id: the tuned run; domain: evaluation params of the domain set (dataset
    "workspace" or "beir", split, group, beir_dir); general_dir: the general BEIR folder
    (empty = the one named in Settings or $EMBSTUDIO_GENERAL_DIR, else SciFact); alphas: the mixes measured; batch_size: encoding batch."""

    run_id: str
    domain: dict[str, Any] = field(default_factory=lambda: {"dataset": "workspace"})
    general_dir: str = ""
    alphas: tuple[float, ...] = ALPHAS
    batch_size: int = 32

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CurveSettings:
        return cls(
            run_id=str(params["run_id"]),
            domain=dict(params.get("domain") or {"dataset": "workspace"}),
            general_dir=str(params.get("general_dir") or ""),
            alphas=tuple(float(a) for a in params.get("alphas") or ALPHAS),
            batch_size=int(params.get("batch_size", 32)),
        )

    def key(self) -> str:
        """What identifies the curve besides the run: its sets and alphas."""
        sets = json.dumps(
            {"domain": self.domain, "general": self.general_dir, "alphas": self.alphas},
            sort_keys=True,
        )
        return hashlib.sha1(sets.encode()).hexdigest()[:8]


def curve_path(ws: Workspace, settings: CurveSettings) -> Path:
    return ws.merge_curves_dir / f"{settings.run_id}-{settings.key()}.json"


def _score(
    ws: Workspace, evalset: EvalSet, spec: ModelSpec, batch_size: int, step: Callable
) -> dict[str, float]:
    retriever = SetRetrievers(evalset, ws, batch_size).dense(
        spec, lambda d, t: step(f"encoding corpus {d}/{t}")
    )
    return evaluate(evalset.qrels, search_set(evalset, retriever)).aggregate


def _model_at(ws: Workspace, run_id: str, alpha: float) -> ModelSpec:
    """The model of one point: the base (0), the run (1), else the mix (made when missing)."""
    from core.training.config import TrainConfig
    from core.training.merge import merge_run, merged_run_id

    if alpha >= 1:
        return run_spec(ws, run_id)
    if alpha <= 0:
        config = TrainConfig.from_json(runs.folder(ws, run_id).config)
        return ModelSpec(label="base", model=runs.model_location(ws, config.base_model))
    mixed = merged_run_id(run_id, alpha)
    if runs.run_status(ws, mixed) != runs.SUCCEEDED:
        merge_run(ws, run_id, alpha)
    return run_spec(ws, mixed)


def compute_curve(
    ws: Workspace, settings: CurveSettings, on_progress: Progress | None = None
) -> dict[str, Any]:
    """Measure every alpha on both sets, write the curve file, return its payload."""
    domain = load_evalset(ws, settings.domain)
    if settings.domain.get("dataset", "workspace") == "workspace":
        refuse_final_fits(ws, [settings.run_id])
    general: EvalSet | None = None
    general_note = ""
    try:
        general = general_set(settings.general_dir or None, ws=ws)
    except GeneralSetMissing as exc:  # nothing named and none to fetch: the domain alone
        general_note = str(exc)
    sets = [("domain", domain)] + ([("general", general)] if general else [])
    total = len(sets) * len(settings.alphas)
    points = []
    for i, alpha in enumerate(settings.alphas):
        spec = _model_at(ws, settings.run_id, alpha)
        point: dict[str, Any] = {"alpha": alpha, "model": spec.label, "run_id": spec.run_id}
        point["general"] = None
        for j, (name, evalset) in enumerate(sets):
            done = len(sets) * i + j

            def step(message: str, done: int = done, name: str = name, a: float = alpha) -> None:
                if on_progress:
                    on_progress(done, total, f"alpha {a:g} · {name} set · {message}")

            point[name] = _score(ws, evalset, spec, settings.batch_size, step)
        points.append(point)
        if on_progress:
            on_progress(len(sets) * (i + 1), total, f"alpha {alpha:g} done")
    payload = {
        "run_id": settings.run_id,
        "created_at": now_iso(),
        "metric": METRIC,
        "settings": asdict(settings),
        "domain_set": domain.summary(),
        "general_set": general.summary() if general else None,
        "general_note": general_note,
        "points": points,
    }
    path = curve_path(ws, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
    return {**payload, "path": ws.relative(path)}


def list_curves(ws: Workspace, run_id: str | None = None) -> list[dict[str, Any]]:
    """Stored curves (newest first), optionally of one run, each with its `path`."""
    folder = ws.merge_curves_dir
    out = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            curve = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a curve being written or damaged is not offered
        if run_id is None or curve.get("run_id") == run_id:
            out.append({**curve, "path": ws.relative(path)})
    return sorted(out, key=lambda c: c["created_at"], reverse=True)


def curve_rows(curve: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per alpha: alpha, model, domain and general metric (None: no general set)."""
    metric = curve.get("metric", METRIC)
    return [
        {
            "alpha": p["alpha"],
            "model": p["model"],
            "domain": p["domain"][metric],
            "general": p["general"][metric] if p.get("general") else None,
        }
        for p in curve["points"]
    ]


def point_at(curve: dict[str, Any], alpha: float) -> dict[str, Any] | None:
    """The curve's row at `alpha` (None when that alpha was not measured)."""
    return next((r for r in curve_rows(curve) if abs(r["alpha"] - alpha) < 1e-9), None)


def default_general_dir(ws: Workspace | None = None) -> str:
    """The general folder the user named (Settings, $EMBSTUDIO_GENERAL_DIR); "" = SciFact from
    the cache or BEIR's downloader."""
    return configured_dir(ws)
