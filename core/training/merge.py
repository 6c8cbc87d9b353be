"""Weight interpolation between the base model and a tuned run (WiSE-FT, LM-Cocktail).

    theta = (1 - alpha) * theta_base + alpha * theta_tuned       alpha in [0, 1]

alpha = 1 is the tuned model, 0 the base. A mix trades some of the domain gain for what tuning
cost elsewhere. A merge is saved as run `<RUN>-mix<100*alpha>`: a model
folder with its card and a `runs` row, so it evaluates, exports and serves like any run.
"""

from __future__ import annotations

from typing import Any

from core import runs
from core.store import Workspace


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
    from core.models import open_model
    from core.training.config import TrainConfig

    if not 0 <= alpha <= 1:
        raise MergeError(f"alpha must be in [0, 1] (got {alpha})")
    try:
        tuned_dir = runs.model_dir(ws, run_id)
    except runs.RunNotFound as exc:
        raise MergeError(f"run {run_id} has no finished model to mix") from exc
    config = TrainConfig.from_json(runs.folder(ws, run_id).config)
    if config.moe:
        raise MergeError("an MoE run has layers its base model lacks: it cannot be mixed")
    base = open_model(runs.model_location(ws, config.base_model), device="cpu")
    tuned = open_model(str(tuned_dir), device="cpu")
    tuned.load_state_dict(interpolate(base.state_dict(), tuned.state_dict(), alpha))
    out_id = merged_run_id(run_id, alpha)
    mixed = {**config.to_dict(), "merge_of": run_id, "merge_alpha": alpha}
    out = runs.record_run(ws, out_id, mixed, replace=True)
    tuned.save(str(out.model), create_model_card=False)
    (out.model / "README.md").write_text(_card(config, run_id, alpha))
    model_dir = runs.finish_run(ws, out_id)
    return {"run_id": out_id, "model_path": str(model_dir), "alpha": alpha}


def _card(config: Any, run_id: str, alpha: float) -> str:
    """The mix's README.md. Not sentence-transformers' card (core/training/card.py): that one
    describes a training (datasets, loss, logs), and a merge has none."""
    from core.training.card import load_snippet

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
