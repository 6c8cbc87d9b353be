"""Objective "dual" (the syllabus paper): w_A · MNRL on (query, positive) pairs and
w_B · (y - cos)² on pairs labelled 1/0, batches of the two datasets alternated
(the maths: core/losses/dual.py)."""

from __future__ import annotations

import random
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

    from core.losses.dual import WeightedLoss

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


def dual_datasets(data: TrainingData, seed: int) -> dict[str, dict[str, list]]:
    """Columns of both parts: 'pairs' (anchor, positive) and 'cosine' (sentence1, sentence2,
    label); every mined negative of a record gives one label-0 row, shuffled with the positives."""
    pairs: dict[str, list] = {"anchor": [], "positive": []}
    rows: list[tuple[str, str, float]] = []
    seen_neg: set[tuple[str, int]] = set()
    for rec in data.train:
        pos = rec.text_of_positive(data.chunk_text)
        pairs["anchor"].append(rec.query)
        pairs["positive"].append(pos)
        rows.append((rec.query, pos, 1.0))
        for cid in rec.negative_ids:
            if (rec.query, cid) not in seen_neg:  # unrolled records share their negatives
                seen_neg.add((rec.query, cid))
                rows.append((rec.query, data.chunk_text[cid], 0.0))
    random.Random(seed).shuffle(rows)
    cosine = {
        "sentence1": [r[0] for r in rows],
        "sentence2": [r[1] for r in rows],
        "label": [r[2] for r in rows],
    }
    return {"pairs": pairs, "cosine": cosine}


register_objective(
    "dual",
    build,
    "Dual: MNRL on positive pairs + (y - cos)^2 on pairs labelled 1/0, batches alternated.",
    DualSettings,
)
