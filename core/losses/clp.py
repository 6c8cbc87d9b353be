"""CLP, contrastive learning penalty (arXiv 2412.17364, "Improving the Accuracy of Document
Retrieval ... Contrastive Learning Penalty"):

    ℓ_i = (1-λ)·InfoNCE_i + λ · mean_{j ∈ A_i} (1 - cos(q*_ij, n_ij))

n_ij is the j-th hard negative of record i and q*_ij a query whose positive *is* n_ij (taken from
the training pairs: `TrainingData.queries_by_positive_chunk`). While InfoNCE pushes n_ij away
from q_i, the penalty pulls it toward its own query, so negatives are not pushed off the map.
InfoNCE_i uses every positive and present hard negative of the batch (like MNRL), scale s = 1/τ.

Any batch size (the reference code only runs at batch 1): A_i is the set of j where both n_ij
and q*_ij exist (masks); a row with no q* keeps only its (1-λ)·InfoNCE term. Batch loss =
mean_i ℓ_i, which at batch size 1 with every q* present is exactly the paper's formula.

Rows are (anchor, positive, negative_1..K, qstar_1..K, label) with label (2, K) = [negative
present, q* present]; an absent negative is filled with the row's own positive and an absent
q* with its own query (never new texts, so the no-duplicates batch sampler is not disturbed),
and both are masked out. When no q* exists for a negative the user chooses: skip the term
(default) or generate a question for that negative with a question writer (core.generation).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.losses._contrastive import info_nce_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData


def clp_loss(
    q: Tensor,
    p: Tensor,
    negs: Tensor,
    qstar: Tensor,
    neg_mask: Tensor,
    qstar_mask: Tensor,
    scale: float = 20.0,
    lam: float = 0.1,
) -> Tensor:
    """CLP on embeddings: q, p (B, d); negs, qstar (B, K, d); masks (B, K) bool."""
    nce = info_nce_rows(q, p, negs, neg_mask, scale)  # (B,)
    avail = (neg_mask.bool() & qstar_mask.bool()).float()  # (B, K)
    pull = 1.0 - F.cosine_similarity(qstar, negs, dim=-1)  # (B, K)
    count = avail.sum(1)
    penalty = (pull * avail).sum(1) / count.clamp(min=1.0)  # 0 where a row has no q*
    return ((1.0 - lam) * nce + lam * penalty).mean()


class CLPLoss(nn.Module):
    """CLP: (1-λ)·InfoNCE + λ·mean_j (1 - cos(q*_j, n_j)); scale = 1/temperature."""

    def __init__(self, model: SentenceTransformer, k: int, scale: float = 20.0, lam: float = 0.1):
        super().__init__()
        self.model = model
        self.k = k
        self.scale = scale
        self.lam = lam

    def forward(self, sentence_features, labels: Tensor) -> Tensor:
        embs = [self.model(f)["sentence_embedding"] for f in sentence_features]
        k = self.k
        q, p = embs[0], embs[1]
        negs = torch.stack(embs[2 : 2 + k], dim=1)  # (B, K, d)
        qstar = torch.stack(embs[2 + k : 2 + 2 * k], dim=1)  # (B, K, d)
        masks = labels.view(-1, 2, k).bool()
        return clp_loss(q, p, negs, qstar, masks[:, 0], masks[:, 1], self.scale, self.lam)

    def get_config_dict(self) -> dict[str, Any]:
        return {"k": self.k, "scale": self.scale, "lambda": self.lam}

    @property
    def citation(self) -> str:
        return "arXiv:2412.17364"


QueryWriter = Callable[[list[str]], list[str | None]]


def local_query_writer() -> QueryWriter:
    """Write one question per passage with the configured local writer (core.generation)."""
    from core.generation.prompts import conversation
    from core.generation.provider_registry import DEFAULT_PROVIDER, make_writer
    from core.generation.providers import questions_from_lines

    writer = make_writer(DEFAULT_PROVIDER)

    def write(passages: list[str]) -> list[str | None]:
        convs = [conversation("simple", False, passage=text[:2000]) for text in passages]
        out: list[str | None] = []
        for answer in writer.answer(convs, max_tokens=64):
            questions = questions_from_lines(answer.text) if answer.ok else []
            out.append(questions[0] if questions else None)
        return out

    return write


def clp_columns(
    data: TrainingData,
    k: int,
    seed: int,
    missing: str = "skip",
    writer: QueryWriter | None = None,
) -> tuple[dict[str, list], dict[str, int]]:
    """Columns of the CLP dataset and counts {records, negatives, with_qstar, generated}.

    missing: 'skip' (mask the term) or 'generate' (write a q* with `writer`, default the local
    question writer, for each negative that is nobody's positive).
    """
    if k < 1:
        raise ValueError("clp needs at least one hard negative per record (negatives_per_query)")
    if missing not in ("skip", "generate"):
        raise ValueError(f"clp_missing must be 'skip' or 'generate', not {missing!r}")
    rng = random.Random(seed)
    by_chunk = {cid: list(qs) for cid, qs in data.queries_by_positive_chunk.items()}
    generated = 0
    if missing == "generate":
        lacking = sorted({c for r in data.train for c in r.negative_ids[:k] if not by_chunk.get(c)})
        if lacking:
            write = writer or local_query_writer()
            written = write([data.chunk_text[c] for c in lacking])
            for cid, question in zip(lacking, written, strict=True):
                if question:
                    by_chunk.setdefault(cid, []).append(question)
                    generated += 1
    cols: dict[str, list] = {"anchor": [], "positive": []}
    for j in range(k):
        cols[f"negative_{j + 1}"] = []
    for j in range(k):
        cols[f"qstar_{j + 1}"] = []
    cols["label"] = []
    n_neg = n_qstar = 0
    for rec in data.train:
        pos = rec.text_of_positive(data.chunk_text)
        cols["anchor"].append(rec.query)
        cols["positive"].append(pos)
        neg_mask, q_mask = [], []
        for j in range(k):
            cid = rec.negative_ids[j] if j < len(rec.negative_ids) else None
            options = [q for q in by_chunk.get(cid, []) if q != rec.query] if cid else []
            cols[f"negative_{j + 1}"].append(data.chunk_text[cid] if cid else pos)
            cols[f"qstar_{j + 1}"].append(rng.choice(options) if options else rec.query)
            neg_mask.append(1.0 if cid else 0.0)
            q_mask.append(1.0 if options else 0.0)
            n_neg += cid is not None
            n_qstar += bool(options)
        cols["label"].append([neg_mask, q_mask])
    counts = {
        "records": len(data.train),
        "negatives": n_neg,
        "with_qstar": n_qstar,
        "generated_qstar": generated,
    }
    return cols, counts
