"""(anchor, positive, negative_1..k) records, the input of the MNRL-style objectives."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

    from core.training.data import TrainingData


def triplet_columns(data: TrainingData, k: int, seed: int) -> dict[str, list[str]]:
    """Columns anchor, positive, negative_1..k of the training records (texts).

    Records with fewer than k mined negatives are filled with random chunks that are not
    among that query's positives, so all rows have the same columns.
    """
    rng = random.Random(seed)
    all_ids = list(data.chunk_text)
    cols: dict[str, list[str]] = {"anchor": [], "positive": []}
    for j in range(k):
        cols[f"negative_{j + 1}"] = []
    for rec in data.train:
        cols["anchor"].append(rec.query)
        cols["positive"].append(rec.text_of_positive(data.chunk_text))
        negs = list(rec.negative_ids[:k])
        blocked = set(rec.all_positive_ids) | set(negs)
        tries = 0
        while len(negs) < k and tries < 50 * k and len(all_ids) > len(blocked):
            cand = rng.choice(all_ids)
            tries += 1
            if cand not in blocked:
                negs.append(cand)
                blocked.add(cand)
        while len(negs) < k:  # tiny corpora: repeat what we have rather than fail
            negs.append(negs[-1] if negs else rec.positive_id)
        for j, cid in enumerate(negs):
            # An imported question's positive is no chunk (core/related_questions.py).
            text = data.chunk_text[cid] if cid in data.chunk_text else cols["positive"][-1]
            cols[f"negative_{j + 1}"].append(text)
    return cols


def triplet_dataset(data: TrainingData, k: int, seed: int) -> Dataset:
    from datasets import Dataset

    return Dataset.from_dict(triplet_columns(data, k, seed))
