"""Objective "gist": GISTEmbedLoss (sentence-transformers), MNRL whose in-batch and mined
negatives are filtered by a guide model: a candidate the guide scores above the query's own
positive (less `gist_margin`) is taken for a false negative and left out of the softmax.

The guide is a frozen copy of the model as training starts (the base model of the run), so
no second model is downloaded. GISTEmbedLoss takes (anchor, positive) pairs or
(anchor, positive, negative) triplets: of the mined negatives (`negatives_per_query`) it uses
the first at most. Temperature is 1 / `scale`, the same sharpness as "mnrl".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.training.objectives.registry import (
    ObjectiveBuild,
    ObjectiveSettings,
    choice_problems,
    register_objective,
    setting,
)
from core.training.objectives.triplets import triplet_dataset

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData
    from core.training.run_settings import RunSettings

MARGIN_STRATEGIES = ("absolute", "relative")


@dataclass
class GistSettings(ObjectiveSettings):
    gist_margin_strategy: str = setting(
        "absolute",
        "gist only: how gist_margin filters false negatives: 'absolute' drops a candidate the "
        "guide scores above positive - margin, 'relative' above positive * (1 - margin).",
    )
    gist_margin: float = setting(
        0.0,
        "gist only: cosine margin (>= 0) below the guide's positive score; 0 drops only the "
        "candidates the guide ranks above the positive.",
    )
    gist_contrast_anchors: bool = setting(
        True, "gist only: also push the batch's queries apart from each other (as the paper)."
    )
    gist_contrast_positives: bool = setting(
        True, "gist only: also push the batch's passages apart from each other (as the paper)."
    )

    def problems(self) -> list[str]:
        out = choice_problems(self, "gist_margin_strategy", MARGIN_STRATEGIES)
        if self.gist_margin < 0:
            out.append(f"gist_margin must not be negative (got {self.gist_margin})")
        return out


if TYPE_CHECKING:

    class Config(GistSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """GIST: MNRL with in-batch false negatives filtered by the frozen base model as guide."""
    from sentence_transformers.sentence_transformer.losses import GISTEmbedLoss

    negatives = min(config.mined_negatives, 1)
    dataset = triplet_dataset(data, negatives, config.seed)
    guide = copy.deepcopy(model).eval()
    guide.requires_grad_(False)
    loss = GISTEmbedLoss(
        model,
        guide,
        temperature=1.0 / config.scale,
        margin_strategy=config.gist_margin_strategy,
        margin=config.gist_margin,
        contrast_anchors=config.gist_contrast_anchors,
        contrast_positives=config.gist_contrast_positives,
    )
    info = {"guide": "frozen copy of the starting model", "negatives_used": negatives}
    return ObjectiveBuild(train_dataset=dataset, loss=loss, info=info)


register_objective(
    "gist",
    build,
    "GIST: MNRL whose false negatives the frozen base model filters out (guided).",
    GistSettings,
)
