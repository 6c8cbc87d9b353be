"""Objective "dual" (the syllabus paper): w_A · MNRL on (query, positive) pairs and
w_B · (y - cos)² on pairs labelled 1/0, batches of the two datasets alternated
(the maths: core/losses/dual.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.training.objectives.registry import (
    ObjectiveBuild,
    ObjectiveSettings,
    register_objective,
    setting,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData
    from core.training.run_settings import RunSettings


@dataclass
class DualSettings(ObjectiveSettings):
    dual_mnrl_weight: float = setting(1.0, "dual: weight of the MNRL part (positive pairs).")
    dual_cosine_weight: float = setting(
        1.0, "dual: weight of the cosine part, (y - cos(u,v))^2 on pairs labelled 1/0."
    )


if TYPE_CHECKING:

    class Config(DualSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """Dual: MNRL on positive pairs + (y - cos)² on pairs labelled 1/0, batches alternated."""
    import torch
    from datasets import Dataset
    from sentence_transformers.losses import CosineSimilarityLoss, MultipleNegativesRankingLoss

    from core.losses.dual import WeightedLoss, dual_datasets

    columns = dual_datasets(data, config.seed)
    datasets = {name: Dataset.from_dict(cols) for name, cols in columns.items()}
    losses = {
        "pairs": WeightedLoss(
            MultipleNegativesRankingLoss(model, scale=config.scale), config.dual_mnrl_weight
        ),
        "cosine": WeightedLoss(CosineSimilarityLoss(model), config.dual_cosine_weight),
    }
    labels = torch.tensor(columns["cosine"]["label"])
    return ObjectiveBuild(
        train_dataset=datasets,
        loss=losses,
        info={
            "pairs": len(columns["pairs"]["anchor"]),
            "cosine_rows": int(labels.numel()),
            "cosine_negatives": int((labels == 0).sum()),
        },
    )


register_objective(
    "dual",
    build,
    "Dual: MNRL on positive pairs + (y - cos)^2 on pairs labelled 1/0, batches alternated.",
    DualSettings,
)
