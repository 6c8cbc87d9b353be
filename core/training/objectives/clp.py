"""Objective "clp" (arXiv 2412.17364): (1-λ)·InfoNCE + λ·(1 - cos(q*, n)), pulling each hard
negative toward a query of its own (the maths: core/losses/clp.py; the rows: `clp_columns` here,
which finds each negative's q* among the training pairs or has a question writer write one)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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


# What CLP does for a negative that is no query's positive: skip its term, or write a q*.
ClpMissing = Literal["skip", "generate"]


@dataclass
class ClpSettings(ObjectiveSettings):
    clp_lambda: float = setting(0.1, "clp: weight of the penalty 1 - cos(q*, n), between 0 and 1.")
    clp_missing: ClpMissing = setting(
        "skip", "clp: no query has negative n as positive: 'skip' the term or 'generate' q*."
    )

    def problems(self) -> list[str]:
        return fraction_problems(self, "clp_lambda") + super().problems()


if TYPE_CHECKING:

    class Config(ClpSettings, RunSettings):
        """What `build` reads of the run's TrainConfig: the common settings and these."""


def build(model: SentenceTransformer, config: Config, data: TrainingData) -> ObjectiveBuild:
    """CLP: (1-λ)·InfoNCE + λ·(1 - cos(q*, n)), pulling each negative toward its own query."""
    from datasets import Dataset

    from core.losses.clp import CLPLoss

    k = max(1, config.mined_negatives)
    cols, counts = clp_columns(data, k, config.seed, config.clp_missing)
    loss = CLPLoss(model, k=k, scale=config.scale, lam=config.clp_lambda)
    return ObjectiveBuild(train_dataset=Dataset.from_dict(cols), loss=loss, info=counts)


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
    missing: ClpMissing = "skip",
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


register_objective(
    "clp",
    build,
    "CLP: InfoNCE + lambda * (1 - cos(q*, n)): pull each negative toward its own query.",
    ClpSettings,
)
