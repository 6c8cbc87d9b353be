"""Soft labels from expert models (arXiv 2408.11868, expert-augmented scores).

K expert embedding models score every (query, passage) pair of a record — its positive and its
mined negatives — with cosine similarity: e_k(q, c). Targets, plainly named because the paper's
exact Soft-1/2/3 definitions are not public:
    expert-mean:  t = mean_k e_k(q, c)
    blend:        t = α·y + (1-α)·mean_k e_k(q, c)      (y = 1 positive, 0 negative)
The model is trained with
    ℓ = mean_{(i,c) present} (cos(q_i, c) - t_ic)²  +  w_mnrl · mean_i InfoNCE_i
(InfoNCE over the batch's positives and present hard negatives, scale s = 1/τ; w_mnrl = 0 gives
MSE only). Experts: sentence-transformers names or folders (resolved through
`core.models.resolve_model`, so the packaged all-mpnet-base-v2 / all-MiniLM-L6-v2 load offline)
or `openai:<model>` for an OpenAI-compatible `/v1/embeddings` endpoint (official openai client;
key from OPENAI_API_KEY, never stored). `expert_agreement` reports how far the experts agree
(Pearson / Spearman of their scores) so a user sees it before training.

Rows are (anchor, positive, negative_1..K, label) with label (2, 1+K) = [targets, present]; an
absent negative is filled with the row's own positive and masked out.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.losses._contrastive import info_nce_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData

TargetKind = Literal["expert-mean", "blend"]


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


def soft_label_loss(
    q: Tensor,
    cands: Tensor,
    targets: Tensor,
    mask: Tensor,
    scale: float = 20.0,
    mnrl_weight: float = 1.0,
) -> Tensor:
    """q (B, d); cands (B, 1+K, d), the positive first; targets, mask (B, 1+K)."""
    present = mask.bool()
    cos = F.cosine_similarity(q.unsqueeze(1), cands, dim=-1)  # (B, 1+K)
    mse = ((cos - targets.float()) ** 2)[present].mean()
    if mnrl_weight == 0:
        return mse
    nce = info_nce_rows(q, cands[:, 0], cands[:, 1:], present[:, 1:], scale).mean()
    return mse + mnrl_weight * nce


class SoftLabelLoss(nn.Module):
    """MSE between cos(q, c) and the experts' soft target, plus w_mnrl · InfoNCE."""

    def __init__(self, model: SentenceTransformer, scale: float = 20.0, mnrl_weight: float = 1.0):
        super().__init__()
        self.model = model
        self.scale = scale
        self.mnrl_weight = mnrl_weight

    def forward(self, sentence_features, labels: Tensor) -> Tensor:
        embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
        cands = torch.stack(embs[1:], dim=1)  # (B, 1+K, d)
        lab = labels.view(len(embs[0]), 2, -1)
        return soft_label_loss(embs[0], cands, lab[:, 0], lab[:, 1], self.scale, self.mnrl_weight)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "mnrl_weight": self.mnrl_weight}

    @property
    def citation(self) -> str:
        return "arXiv:2408.11868"


# ------------------------------------------------------------------------------ experts
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
    import random

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
