"""Weight interpolation between the base model and a tuned run (WiSE-FT, LM-Cocktail).

    theta = (1 - alpha) * theta_base + alpha * theta_tuned       alpha in [0, 1]

alpha = 1 is the tuned model, 0 the base. A mix trades some of the domain gain for what tuning
cost elsewhere (DESIGN.md section 5). A merge is saved as run `<RUN>-mix<100*alpha>`: a model
folder with its card and a `runs` row, so it evaluates, exports and serves like any run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from core.store import Workspace, now_iso


class MergeError(ValueError):
    """A merge that cannot be made (the message says why)."""


def merged_run_id(run_id: str, alpha: float) -> str:
    return f"{run_id}-mix{round(alpha * 100):02d}"


def interpolate(base_state: dict[str, Any], tuned_state: dict[str, Any], alpha: float) -> dict:
    """The mixed state dict; floating tensors are interpolated, others (ids) kept from tuned."""
    if set(base_state) != set(tuned_state):
        extra = sorted(set(base_state) ^ set(tuned_state))[:3]
        raise MergeError(
            f"the models have different weights ({', '.join(extra)}…): only a run tuned from "
            "this base model without architecture changes (no MoE) can be mixed with it"
        )
    out = {}
    for name, tuned in tuned_state.items():
        base = base_state[name]
        if base.shape != tuned.shape:
            raise MergeError(f"weight {name} differs in shape: {tuple(base.shape)} vs tuned")
        out[name] = (1 - alpha) * base + alpha * tuned if tuned.is_floating_point() else tuned
    return out


def merge_run(ws: Workspace, run_id: str, alpha: float) -> dict[str, Any]:
    """Mix run `run_id`'s model with its base model; returns {run_id, model_path}."""
    from sentence_transformers import SentenceTransformer

    from core.training.config import TrainConfig
    from core.training.trainer import resolve_base

    if not 0 <= alpha <= 1:
        raise MergeError(f"alpha must be in [0, 1] (got {alpha})")
    run_dir = ws.run_dir(run_id)
    if not (run_dir / "model" / "modules.json").is_file():
        raise MergeError(f"run {run_id} has no finished model to mix")
    config = TrainConfig.from_json(run_dir / "config.json")
    if config.moe:
        raise MergeError("an MoE run has layers its base model lacks: it cannot be mixed")
    base = SentenceTransformer(resolve_base(ws, config.base_model), device="cpu")
    tuned = SentenceTransformer(str(run_dir / "model"), device="cpu")
    tuned.load_state_dict(interpolate(base.state_dict(), tuned.state_dict(), alpha))
    out_id = merged_run_id(run_id, alpha)
    out_dir = ws.run_dir(out_id)
    (out_dir / "model").mkdir(parents=True, exist_ok=True)
    tuned.save(str(out_dir / "model"), create_model_card=False)
    mixed = {**config.to_dict(), "merge_of": run_id, "merge_alpha": alpha}
    (out_dir / "config.json").write_text(json.dumps(mixed, indent=2, sort_keys=True) + "\n")
    (out_dir / "model" / "README.md").write_text(_card(config, run_id, alpha))
    rel = os.path.relpath(out_dir / "model", ws.root)
    with ws.transaction() as conn:
        conn.execute("DELETE FROM runs WHERE id = ?", (out_id,))
        conn.execute(
            "INSERT INTO runs (id, created_at, base_model, loss, config, status, model_path)"
            " VALUES (?, ?, ?, ?, ?, 'succeeded', ?)",
            (out_id, now_iso(), config.base_model, config.loss, json.dumps(mixed), rel),
        )
    return {"run_id": out_id, "model_path": str(out_dir / "model"), "alpha": alpha}


def _card(config: Any, run_id: str, alpha: float) -> str:
    from core.training.trainer import load_snippet

    return "\n".join(
        [
            f"# Mixed embedding model: run {run_id} at alpha {alpha:g}",
            "",
            f"Weights = {1 - alpha:g} x `{config.base_model}` + {alpha:g} x run `{run_id}` "
            "(WiSE-FT style interpolation, Domain Embedding Studio).",
            "",
            "## Use",
            "",
            "```python",
            *load_snippet(config),
            "```",
            "",
        ]
    )
