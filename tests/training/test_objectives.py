"""The rows each objective builds from the training data (core/training/objectives/): which
negatives, which q*, which expert targets; the loss maths on them is tests/losses/."""

from __future__ import annotations

import numpy as np
import pytest

from core.training.data import TrainingData, TrainRecord
from core.training.objectives.clp import clp_columns
from core.training.objectives.dual import dual_datasets
from core.training.objectives.soft import (
    expert_agreement,
    preview_agreement,
    soft_columns,
    soft_targets,
)


def _data() -> TrainingData:
    chunks = {1: "alpha passage", 2: "beta passage", 3: "gamma passage", 4: "delta passage"}
    train = [
        TrainRecord(10, "what is alpha", 1, (1,), (2, 3)),
        TrainRecord(11, "what is beta", 2, (2,), (4,)),
        TrainRecord(12, "what is gamma", 3, (3,), ()),
    ]
    by_pos = {1: ["what is alpha"], 2: ["what is beta"], 3: ["what is gamma"]}
    return TrainingData(train=train, chunk_text=chunks, queries_by_positive_chunk=by_pos)


# ------------------------------------------------------------------------------ dual
def test_dual_datasets_label_positives_and_negatives() -> None:
    cols = dual_datasets(_data(), seed=0)
    assert cols["pairs"]["anchor"] == ["what is alpha", "what is beta", "what is gamma"]
    c = cols["cosine"]
    rows = set(zip(c["sentence1"], c["sentence2"], c["label"], strict=True))
    assert ("what is alpha", "alpha passage", 1.0) in rows
    assert ("what is alpha", "beta passage", 0.0) in rows
    assert ("what is beta", "delta passage", 0.0) in rows
    assert len(rows) == 3 + 3  # 3 positives, 3 negatives


# ------------------------------------------------------------------------------ clp
def test_clp_columns_masks_and_fillers() -> None:
    cols, counts = clp_columns(_data(), k=2, seed=0)
    # record 0: negatives 2 and 3 -> their queries; record 2: no negatives at all
    assert cols["qstar_1"][0] == "what is beta" and cols["qstar_2"][0] == "what is gamma"
    assert cols["label"][0] == [[1.0, 1.0], [1.0, 1.0]]
    # record 1: negative 4 is nobody's positive -> own query as filler, masked
    assert cols["negative_1"][1] == "delta passage" and cols["qstar_1"][1] == "what is beta"
    assert cols["label"][1] == [[1.0, 0.0], [0.0, 0.0]]
    assert cols["negative_1"][2] == "gamma passage"  # own positive as filler
    assert cols["label"][2] == [[0.0, 0.0], [0.0, 0.0]]
    assert counts == {"records": 3, "negatives": 3, "with_qstar": 2, "generated_qstar": 0}
    cols, counts = clp_columns(
        _data(), k=2, seed=0, missing="generate", writer=lambda ps: [f"about {t}" for t in ps]
    )
    assert cols["qstar_1"][1] == "about delta passage" and counts["generated_qstar"] == 1
    assert cols["label"][1] == [[1.0, 0.0], [1.0, 0.0]]


# ------------------------------------------------------------------------------ soft
def test_soft_targets_both_variants() -> None:
    scores = np.array([[0.8, 0.2], [0.6, 0.4]])
    hard = np.array([1.0, 0.0])
    np.testing.assert_allclose(soft_targets(scores, hard, "expert-mean"), [0.7, 0.3])
    np.testing.assert_allclose(soft_targets(scores, hard, "blend", 0.5), [0.85, 0.15])
    np.testing.assert_allclose(soft_targets(scores, hard, "blend", 1.0), [1.0, 0.0])
    with pytest.raises(ValueError):
        soft_targets(scores, hard, "blend", 1.5)


def test_soft_columns_and_agreement() -> None:
    cols, pairs = soft_columns(_data(), 2, None, "blend", 0.5)
    assert [p[2] for p in pairs] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    scores = np.array([[0.9, 0.1, 0.2, 0.8, 0.3, 0.7], [0.7, 0.3, 0.2, 0.6, 0.1, 0.9]])
    cols, _ = soft_columns(_data(), 2, scores, "expert-mean", 0.5)
    np.testing.assert_allclose(cols["label"][0], [[0.8, 0.2, 0.2], [1, 1, 1]])
    np.testing.assert_allclose(cols["label"][2], [[0.8, 0.0, 0.0], [1, 0, 0]])
    agree = expert_agreement(scores, ["a", "b"])[0]
    assert agree["pearson"] == pytest.approx(np.corrcoef(scores)[0, 1])
    assert -1 <= agree["spearman"] <= 1 and agree["pairs"] == 6


def test_preview_agreement_with_two_real_experts() -> None:
    rows = preview_agreement(_data(), ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2"], 2, sample=6)
    assert rows[0]["pairs"] == 6
    assert rows[0]["pearson"] == pytest.approx(1.0)  # an expert agrees with itself
