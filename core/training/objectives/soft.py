"""Objective "soft" (arXiv 2408.11868): expert models score every (query, passage) pair; the
model learns the MSE of its cosine to those scores, plus w·MNRL (the maths: core/losses/soft.py).

K expert embedding models score every (query, passage) pair of a record — its positive and its
mined negatives — with cosine similarity: e_k(q, c). Targets, plainly named because the paper's
exact Soft-1/2/3 definitions are not public:
    expert-mean:  t = mean_k e_k(q, c)
    blend:        t = α·y + (1-α)·mean_k e_k(q, c)      (y = 1 positive, 0 negative)
Experts: sentence-transformers names or folders (resolved through `core.models.resolve_model`,
so the packaged all-mpnet-base-v2 / all-MiniLM-L6-v2 load offline) or `openai:<model>` for an
OpenAI-compatible `/v1/embeddings` endpoint (official openai client; key from OPENAI_API_KEY,
never stored). `expert_agreement` reports how far the experts agree (Pearson / Spearman of their
scores) so a user sees it before training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

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


# The soft label: the experts' mean cosine, or a blend with the hard 0/1 label.
SoftTarget = Literal["expert-mean", "blend"]


@dataclass
class SoftSettings(ObjectiveSettings):
    soft_experts: list[str] = field(
        default_factory=lambda: ["all-mpnet-base-v2", "all-MiniLM-L6-v2"],
        metadata={
            "help": "soft: expert models scoring each (query, passage): sentence-transformers "
            "names or folders, or 'openai:<model>' for an OpenAI-compatible endpoint "
            "(soft_base_url)."
        },
    )
    soft_base_url: str = setting(
        "", "soft: OpenAI-compatible embeddings base URL (key from OPENAI_API_KEY)."
    )
    soft_target: SoftTarget = setting(
        "blend", "soft: 'expert-mean' (mean expert cosine) or 'blend' a*y + (1-a)*mean."
    )
    soft_alpha: float = setting(0.5, "soft: weight a of the hard 0/1 label in 'blend', 0..1.")
    soft_mnrl_weight: float = setting(1.0, "soft: weight of the added MNRL term (0 = MSE only).")

    def problems(self) -> list[str]:
        return fraction_problems(self, "soft_alpha") + super().problems()


if TYPE_CHECKING:

    class Config(SoftSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """Soft labels: MSE of cosine to expert-scored targets (plus MNRL), K expert models."""
    from datasets import Dataset

    from core.losses.soft import SoftLabelLoss

    k = max(0, config.mined_negatives)
    target, alpha = config.soft_target, config.soft_alpha
    _, pairs = soft_columns(data, k, None, target, alpha)
    experts = list(config.soft_experts)
    scores = expert_scores(
        experts, [p[0] for p in pairs], [p[1] for p in pairs], config.soft_base_url
    )
    cols, _ = soft_columns(data, k, scores, target, alpha)
    hard = np.array([p[2] for p in pairs])
    info: dict[str, Any] = {
        "experts": experts,
        "scored_pairs": len(pairs),
        "mean_expert_score_positive": float(scores.mean(0)[hard == 1].mean()),
        "mean_expert_score_negative": float(scores.mean(0)[hard == 0].mean())
        if (hard == 0).any()
        else None,
    }
    if len(experts) > 1:
        info["agreement"] = expert_agreement(scores, experts)
    loss = SoftLabelLoss(model, scale=config.scale, mnrl_weight=config.soft_mnrl_weight)
    return ObjectiveBuild(train_dataset=Dataset.from_dict(cols), loss=loss, info=info)


TargetKind = SoftTarget  # the soft label's kind, as SoftSettings.soft_target chooses it


def soft_targets(
    expert_scores: np.ndarray, hard: np.ndarray, kind: TargetKind = "blend", alpha: float = 0.5
) -> np.ndarray:
    """Targets from expert cosines (n_experts, n) and hard labels y (n,) in {0, 1}."""
    mean = np.asarray(expert_scores, dtype=np.float64).mean(0)
    if kind == "expert-mean":
        return mean
    if kind == "blend":
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"soft_alpha must be in [0, 1], got {alpha}")
        return alpha * np.asarray(hard, dtype=np.float64) + (1.0 - alpha) * mean
    raise ValueError(f"soft_target must be 'expert-mean' or 'blend', not {kind!r}")


def _embed_openai(model: str, texts: list[str], base_url: str, batch: int = 128) -> np.ndarray:
    from core.generation.providers import openai_client

    client = openai_client(base_url or None)
    out: list[list[float]] = []
    for i in range(0, len(texts), batch):
        resp = client.embeddings.create(model=model, input=texts[i : i + batch])
        out += [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
    vecs = np.asarray(out, dtype=np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def embed_with_expert(
    expert: str, texts: list[str], base_url: str = "", batch_size: int = 32
) -> np.ndarray:
    """Unit vectors (n, d) of `texts` under one expert ('openai:<model>' or an ST name)."""
    if expert.startswith("openai:"):
        return _embed_openai(expert.split(":", 1)[1], texts, base_url)
    from core.models import load_sentence_model

    model = load_sentence_model(expert)
    return model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )


def expert_scores(
    experts: list[str],
    queries: list[str],
    passages: list[str],
    base_url: str = "",
    progress: Any = None,
) -> np.ndarray:
    """Cosine (n_experts, n) of each (queries[i], passages[i]) pair under each expert; every
    distinct text is embedded once per expert. progress(i, n, message) is called per expert."""
    if not experts:
        raise ValueError("soft labels need at least one expert model")
    uq = sorted(set(queries))
    up = sorted(set(passages))
    qi = {t: i for i, t in enumerate(uq)}
    pi = {t: i for i, t in enumerate(up)}
    rows_q = np.array([qi[t] for t in queries])
    rows_p = np.array([pi[t] for t in passages])
    scores = np.zeros((len(experts), len(queries)), dtype=np.float64)
    for k, expert in enumerate(experts):
        if progress:
            progress(k, len(experts), f"scoring pairs with expert {expert}")
        qv = embed_with_expert(expert, uq, base_url)
        pv = embed_with_expert(expert, up, base_url)
        scores[k] = np.einsum("nd,nd->n", qv[rows_q], pv[rows_p])
    return scores


def expert_agreement(scores: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Pairwise Pearson and Spearman correlation of the experts' scores (n_experts, n)."""
    from scipy.stats import pearsonr, spearmanr

    out = []
    for a, b in combinations(range(len(names)), 2):
        out.append(
            {
                "expert_a": names[a],
                "expert_b": names[b],
                "pearson": float(pearsonr(scores[a], scores[b])[0]),
                "spearman": float(spearmanr(scores[a], scores[b])[0]),
                "pairs": int(scores.shape[1]),
            }
        )
    return out


def preview_agreement(
    data: TrainingData,
    experts: list[str],
    negatives_per_query: int = 1,
    sample: int = 200,
    seed: int = 42,
    base_url: str = "",
) -> list[dict[str, Any]]:
    """The experts' agreement on a sample of the training pairs (positives and negatives),
    to show before training: rows {expert_a, expert_b, pearson, spearman, pairs}."""
    _, pairs = soft_columns(data, negatives_per_query, None, "expert-mean", 0.0)
    if len(pairs) > sample:
        pairs = random.Random(seed).sample(pairs, sample)
    if len(experts) < 2 or len(pairs) < 3:
        return []
    scores = expert_scores(experts, [p[0] for p in pairs], [p[1] for p in pairs], base_url)
    return expert_agreement(scores, experts)


def soft_columns(
    data: TrainingData, k: int, scores: np.ndarray | None, kind: TargetKind, alpha: float
) -> tuple[dict[str, list], list[tuple[str, str, float]]]:
    """(columns, scored pairs). With scores None only the pairs are returned (to be scored):
    [(query, passage, y)] in row-major order, present candidates only."""
    pairs: list[tuple[str, str, float]] = []
    for rec in data.train:
        pairs.append((rec.query, rec.text_of_positive(data.chunk_text), 1.0))
        for cid in rec.negative_ids[:k]:
            pairs.append((rec.query, data.chunk_text[cid], 0.0))
    if scores is None:
        return {}, pairs
    targets = soft_targets(scores, np.array([p[2] for p in pairs]), kind, alpha)
    cols: dict[str, list] = {"anchor": [], "positive": []}
    for j in range(k):
        cols[f"negative_{j + 1}"] = []
    cols["label"] = []
    pos = 0
    for rec in data.train:
        positive = rec.text_of_positive(data.chunk_text)
        cols["anchor"].append(rec.query)
        cols["positive"].append(positive)
        t_row = [float(targets[pos])]
        m_row = [1.0]
        pos += 1
        for j in range(k):
            if j < len(rec.negative_ids):
                cols[f"negative_{j + 1}"].append(data.chunk_text[rec.negative_ids[j]])
                t_row.append(float(targets[pos]))
                m_row.append(1.0)
                pos += 1
            else:
                cols[f"negative_{j + 1}"].append(positive)
                t_row.append(0.0)
                m_row.append(0.0)
        cols["label"].append([t_row, m_row])
    return cols, pairs


register_objective(
    "soft",
    build,
    "Soft labels: expert models score the pairs; MSE of cosine to those scores (+ MNRL).",
    SoftSettings,
)
