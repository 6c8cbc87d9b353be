"""Registry of training objectives: a name maps to a builder that turns (model, config, data)
into the datasets and loss modules the trainer needs.

A builder is `(model: SentenceTransformer, config: TrainConfig, data: TrainingData) ->
ObjectiveBuild`. Objectives outside this module (core/losses/) register themselves at import
with `register_objective`; the trainer imports `core.losses` so they are found.

Registered here:
- "mnrl": MultipleNegativesRankingLoss (InfoNCE), `scale` = 1/temperature, the mined hard
  negatives as extra columns `negative_1..k` of each (anchor, positive) record.
- "cached-mnrl": CachedMultipleNegativesRankingLoss: the same loss with gradient caching, so
  memory follows `mini_batch_size` while the softmax still spans the whole batch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from core.training.config import TrainConfig
    from core.training.data import TrainingData


@dataclass
class ObjectiveBuild:
    """What an objective hands the trainer.

    train_dataset: one `datasets.Dataset`, or name -> Dataset for round-robin multi-dataset
        training (then `loss` must be a dict with the same names).
    loss: a loss module, or name -> module.
    prepare_model: hooks `(model, config) -> None` applied to the model before training
        (e.g. MoE layer surgery); they run before the loss is built when listed in
        `ObjectiveSpec.prepare_model`, or here when only known after building.
    info: free JSON-able facts for the model card (e.g. counts of soft-label pairs).
    """

    train_dataset: Dataset | dict[str, Dataset]
    loss: torch.nn.Module | dict[str, torch.nn.Module]
    prepare_model: list[Callable[[SentenceTransformer, TrainConfig], None]] = field(
        default_factory=list
    )
    info: dict[str, Any] = field(default_factory=dict)


Builder = Callable[["SentenceTransformer", "TrainConfig", "TrainingData"], ObjectiveBuild]

_REGISTRY: dict[str, Builder] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_objective(name: str, builder: Builder, description: str = "") -> None:
    """Make `name` usable as `TrainConfig.loss` (re-registering replaces the builder)."""
    _REGISTRY[name] = builder
    doc_lines = (builder.__doc__ or "").strip().splitlines()
    _DESCRIPTIONS[name] = description or (doc_lines[0] if doc_lines else "")


def _load_plugins() -> None:
    # Objectives living in core.losses register themselves when that package is imported.
    try:
        importlib.import_module("core.losses")
    except ModuleNotFoundError as exc:
        if exc.name not in ("core.losses",):
            raise


def get_objective(name: str) -> Builder:
    """The builder registered under `name` (KeyError listing the known names otherwise)."""
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown objective {name!r}; known: {', '.join(available_objectives())}")
    return _REGISTRY[name]


def available_objectives() -> list[str]:
    """Registered objective names (plugins loaded)."""
    _load_plugins()
    return list(_REGISTRY)


def describe_objectives() -> dict[str, str]:
    """Name -> one-line description, for the Train page and `embstudio train --help`."""
    _load_plugins()
    return {n: _DESCRIPTIONS.get(n, "") for n in _REGISTRY}


# ---------------------------------------------------------------------------- shared pieces
def triplet_columns(data: TrainingData, k: int, seed: int) -> dict[str, list[str]]:
    """Columns anchor, positive, negative_1..k of the training records (texts).

    Records with fewer than k mined negatives are filled with random chunks that are not
    among that query's positives, so all rows have the same columns.
    """
    import random

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
            cols[f"negative_{j + 1}"].append(data.chunk_text[cid])
    return cols


def triplet_dataset(data: TrainingData, k: int, seed: int) -> Dataset:
    from datasets import Dataset

    return Dataset.from_dict(triplet_columns(data, k, seed))


def _own_candidates_loss(model: SentenceTransformer, scale: float) -> torch.nn.Module:
    """InfoNCE over each query's own candidates only (no in-batch negatives):
    `-log exp(s·cos(q,p)) / (exp(s·cos(q,p)) + Σ_j exp(s·cos(q,n_j)))`."""
    import torch
    from torch import nn

    class _Loss(nn.Module):
        def __init__(self, model: SentenceTransformer, scale: float) -> None:
            super().__init__()
            self.model = model
            self.scale = scale

        def forward(self, sentence_features, labels=None) -> torch.Tensor:
            embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
            q = nn.functional.normalize(embs[0], dim=-1)  # [B, d]
            cands = nn.functional.normalize(torch.stack(embs[1:], dim=1), dim=-1)  # [B, 1+k, d]
            scores = torch.einsum("bd,bcd->bc", q, cands) * self.scale  # [B, 1+k]
            target = torch.zeros(len(q), dtype=torch.long, device=q.device)
            return nn.functional.cross_entropy(scores, target)

        @property
        def citation(self) -> str:
            return ""

    return _Loss(model, scale)


def build_mnrl(
    model: SentenceTransformer, config: TrainConfig, data: TrainingData
) -> ObjectiveBuild:
    """MNRL / InfoNCE with in-batch and mined hard negatives (scale = 1/temperature)."""
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    dataset = triplet_dataset(data, config.negatives_per_query, config.seed)
    if config.in_batch_negatives:
        loss = MultipleNegativesRankingLoss(model, scale=config.scale)
    else:
        loss = _own_candidates_loss(model, config.scale)
    return ObjectiveBuild(train_dataset=dataset, loss=loss)


def build_cached_mnrl(
    model: SentenceTransformer, config: TrainConfig, data: TrainingData
) -> ObjectiveBuild:
    """Cached MNRL: MNRL maths with gradient caching, for batches larger than memory allows."""
    from sentence_transformers.losses import CachedMultipleNegativesRankingLoss

    dataset = triplet_dataset(data, config.negatives_per_query, config.seed)
    loss = CachedMultipleNegativesRankingLoss(
        model, scale=config.scale, mini_batch_size=config.mini_batch_size
    )
    return ObjectiveBuild(train_dataset=dataset, loss=loss)


register_objective(
    "mnrl", build_mnrl, "InfoNCE: pull each query to its passage, push away hard + in-batch ones."
)
register_objective(
    "cached-mnrl",
    build_cached_mnrl,
    "MNRL with gradient caching: large batches in little memory, slightly slower.",
)
