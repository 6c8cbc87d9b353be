"""Objective "mnrl": MultipleNegativesRankingLoss (InfoNCE), `scale` = 1/temperature, the mined
hard negatives as extra columns `negative_1..k` of each (anchor, positive) record. With
`in_batch_negatives` off, each query is scored against its own candidates only
(core/losses/own_candidates.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.training.objectives.registry import ObjectiveBuild, register_objective
from core.training.objectives.triplets import triplet_dataset

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData
    from core.training.run_settings import RunSettings


def build(model: SentenceTransformer, config: RunSettings, data: TrainingData) -> ObjectiveBuild:
    """MNRL / InfoNCE with in-batch and mined hard negatives (scale = 1/temperature)."""
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    from core.losses.own_candidates import OwnCandidatesLoss

    dataset = triplet_dataset(data, config.mined_negatives, config.seed)
    if config.in_batch_negatives:
        loss = MultipleNegativesRankingLoss(model, scale=config.scale)
    else:
        loss = OwnCandidatesLoss(model, config.scale)
    return ObjectiveBuild(train_dataset=dataset, loss=loss)


register_objective(
    "mnrl", build, "InfoNCE: pull each query to its passage, push away hard + in-batch ones."
)
