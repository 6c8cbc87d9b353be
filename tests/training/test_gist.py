"""Objective "gist" (core/training/objectives/gist.py): GISTEmbedLoss guided by the base."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.models import DEFAULT_BASE_MODEL, resolve_model
from core.runs import read_progress
from core.training.config import TrainConfig
from core.training.data import load_training_data
from core.training.objectives import get_objective
from core.training.trainer import train_run
from tests.training_helpers import small_scifact


def gist_config(**kw) -> TrainConfig:
    base = dict(
        loss="gist",
        batch_size=4,
        max_steps=1,
        negatives_per_query=1,
        learning_rate=5e-5,
        max_seq_length=64,
        warmup_ratio=0.0,
        validate_every_epoch=False,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


def test_gist_settings_are_checked():
    for bad, word in (
        (dict(gist_margin_strategy="soft"), "gist_margin_strategy"),
        (dict(gist_margin=-0.1), "gist_margin"),
    ):
        with pytest.raises(ValueError, match=word):
            gist_config(**bad).validate()
    gist_config(gist_margin_strategy="relative", gist_margin=0.05).validate()


@pytest.mark.slow
def test_one_gist_step_moves_the_model_and_keeps_its_guide_the_base(ws):
    from sentence_transformers import SentenceTransformer

    small_scifact(ws, n_queries=8, n_other=4, n_val=0)
    base = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
    base.max_seq_length = 64

    # The guide is a frozen copy of the model: training cannot move it.
    data = load_training_data(ws, validation_split="none")
    cfg = gist_config().resolved(data.counts()["records_by_kind"])
    model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
    built = get_objective("gist")(model, cfg, data)
    guide = built.loss.guide
    assert guide is not model and not any(p.requires_grad for p in guide.parameters())
    assert built.train_dataset.column_names == ["anchor", "positive", "negative_1"]

    out = train_run(ws, gist_config(), "g")
    steps = [p for p in read_progress(ws.run_dir("g")) if p["type"] == "step"]
    assert len(steps) == 1 and math.isfinite(steps[0]["loss"]) and steps[0]["loss"] > 0
    tuned = SentenceTransformer(out["model_path"], device="cpu")
    texts = ["What does the loss of a guide model filter?", "Passages about retrieval."]
    moved = np.abs(tuned.encode(texts) - base.encode(texts)).max()
    assert moved > 1e-4
    assert "GISTEmbedLoss" in (ws.run_dir("g") / "model" / "README.md").read_text()
