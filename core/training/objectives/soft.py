"""Objective "soft" (arXiv 2408.11868): expert models score every (query, passage) pair; the
model learns the MSE of its cosine to those scores, plus w·MNRL (the maths and the expert
scoring: core/losses/soft.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from core.training.objectives.registry import (
    ObjectiveBuild,
    ObjectiveSettings,
    fraction_problems,
    register_objective,
    setting,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData
    from core.training.run_settings import RunSettings


# The soft label: the experts' mean cosine, or a blend with the hard 0/1 label.
SoftTarget = Literal["expert-mean", "blend"]


@dataclass
class SoftSettings(ObjectiveSettings):
    soft_experts: list[str] = field(
        default_factory=lambda: ["all-mpnet-base-v2", "all-MiniLM-L6-v2"],
        metadata={
            "help": "soft: expert models scoring each (query, passage): sentence-transformers "
            "names or folders, or 'openai:<model>' for an OpenAI-compatible endpoint "
            "(soft_base_url)."
        },
    )
    soft_base_url: str = setting(
        "", "soft: OpenAI-compatible embeddings base URL (key from OPENAI_API_KEY)."
    )
    soft_target: SoftTarget = setting(
        "blend", "soft: 'expert-mean' (mean expert cosine) or 'blend' a*y + (1-a)*mean."
    )
    soft_alpha: float = setting(0.5, "soft: weight a of the hard 0/1 label in 'blend', 0..1.")
    soft_mnrl_weight: float = setting(1.0, "soft: weight of the added MNRL term (0 = MSE only).")

    def problems(self) -> list[str]:
        return fraction_problems(self, "soft_alpha") + super().problems()


if TYPE_CHECKING:

    class Config(SoftSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """Soft labels: MSE of cosine to expert-scored targets (plus MNRL), K expert models."""
    import numpy as np
    from datasets import Dataset

    from core.losses.soft import SoftLabelLoss, expert_agreement, expert_scores, soft_columns

    k = max(0, config.mined_negatives)
    target, alpha = config.soft_target, config.soft_alpha
    _, pairs = soft_columns(data, k, None, target, alpha)
    experts = list(config.soft_experts)
    scores = expert_scores(
        experts, [p[0] for p in pairs], [p[1] for p in pairs], config.soft_base_url
    )
    cols, _ = soft_columns(data, k, scores, target, alpha)
    hard = np.array([p[2] for p in pairs])
    info: dict[str, Any] = {
        "experts": experts,
        "scored_pairs": len(pairs),
        "mean_expert_score_positive": float(scores.mean(0)[hard == 1].mean()),
        "mean_expert_score_negative": float(scores.mean(0)[hard == 0].mean())
        if (hard == 0).any()
        else None,
    }
    if len(experts) > 1:
        info["agreement"] = expert_agreement(scores, experts)
    loss = SoftLabelLoss(model, scale=config.scale, mnrl_weight=config.soft_mnrl_weight)
    return ObjectiveBuild(train_dataset=Dataset.from_dict(cols), loss=loss, info=info)


register_objective(
    "soft",
    build,
    "Soft labels: expert models score the pairs; MSE of cosine to those scores (+ MNRL).",
    SoftSettings,
)
