"""Objective "clp" (arXiv 2412.17364): (1-λ)·InfoNCE + λ·(1 - cos(q*, n)), pulling each hard
negative toward a query of its own (the maths and the dataset: core/losses/clp.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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


# What CLP does for a negative that is no query's positive: skip its term, or write a q*.
ClpMissing = Literal["skip", "generate"]


@dataclass
class ClpSettings(ObjectiveSettings):
    clp_lambda: float = setting(0.1, "clp: weight of the penalty 1 - cos(q*, n), between 0 and 1.")
    clp_missing: ClpMissing = setting(
        "skip", "clp: no query has negative n as positive: 'skip' the term or 'generate' q*."
    )

    def problems(self) -> list[str]:
        return fraction_problems(self, "clp_lambda") + super().problems()


if TYPE_CHECKING:

    class Config(ClpSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """CLP: (1-λ)·InfoNCE + λ·(1 - cos(q*, n)), pulling each negative toward its own query."""
    from datasets import Dataset

    from core.losses.clp import CLPLoss, clp_columns

    k = max(1, config.mined_negatives)
    cols, counts = clp_columns(data, k, config.seed, config.clp_missing)
    loss = CLPLoss(model, k=k, scale=config.scale, lam=config.clp_lambda)
    return ObjectiveBuild(train_dataset=Dataset.from_dict(cols), loss=loss, info=counts)


register_objective(
    "clp",
    build,
    "CLP: InfoNCE + lambda * (1 - cos(q*, n)): pull each negative toward its own query.",
    ClpSettings,
)
