"""Objective "cached-mnrl": CachedMultipleNegativesRankingLoss, the MNRL maths with gradient
caching, so memory follows `mini_batch_size` while the softmax still spans the whole batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.training.objectives.registry import (
    ObjectiveBuild,
    ObjectiveSettings,
    register_objective,
    setting,
)
from core.training.objectives.triplets import triplet_dataset

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData
    from core.training.run_settings import RunSettings


@dataclass
class CachedMnrlSettings(ObjectiveSettings):
    mini_batch_size: int = setting(
        16, "cached-mnrl only: texts embedded at once; memory scales with this, not batch size."
    )

    def problems(self) -> list[str]:
        mine = ["mini_batch_size must be at least 1"] if self.mini_batch_size < 1 else []
        return mine + super().problems()


if TYPE_CHECKING:

    class Config(CachedMnrlSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """Cached MNRL: MNRL maths with gradient caching, for batches larger than memory allows."""
    from sentence_transformers.losses import CachedMultipleNegativesRankingLoss

    dataset = triplet_dataset(data, config.mined_negatives, config.seed)
    loss = CachedMultipleNegativesRankingLoss(
        model, scale=config.scale, mini_batch_size=config.mini_batch_size
    )
    return ObjectiveBuild(train_dataset=dataset, loss=loss)


register_objective(
    "cached-mnrl",
    build,
    "MNRL with gradient caching: large batches in little memory, slightly slower.",
    CachedMnrlSettings,
)
