"""Lever sweep for the no-label default on real documents (issue 13), outside the job system.

Each variant chunks the documents, writes pseudo-queries, trains MNRL with the plain
`SentenceTransformerTrainer` and scores the model on real questions of a BEIR folder with the
product's own evaluator (`core.evaluation`), per group. This is the fast loop used to prune
levers; the winner is then run through the product's CLI by `bench/bench_domain.py`.

    .venv/bin/python bench/explore_domain_levers.py --variants base,ict2,ict_all ...
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEV = ROOT.parent / "shared" / "data" / "syllabusqa-dev"

# variant name -> settings (missing keys take DEFAULTS)
DEFAULTS = {
    "chunk_words": 200,
    "overlap": 50,
    "queries": "ict",  # ict | crop | ict+crop | sent_all
    "per_chunk": 2,
    "remove": False,
    "epochs": 1.0,
    "lr": 2e-5,
    "batch": 32,
    "strict": True,  # product's whole-sentence rule
    "min_words": 6,
}
VARIANTS: dict[str, dict] = {
    "base": {"train": False},
    "ict2": {},
    "ict4": {"per_chunk": 4},
    "ict2_e2": {"epochs": 2},
    "ict2_lr5": {"lr": 5e-5},
    "loose4": {"queries": "loose", "per_chunk": 4},
    "ict4_lr5": {"per_chunk": 4, "lr": 5e-5},
    "ict4_lr1e4": {"per_chunk": 4, "lr": 1e-4},
    "ict4_rm_lr5": {"per_chunk": 4, "lr": 5e-5, "remove": True},
    "ict4_kw_lr5": {"per_chunk": 4, "lr": 5e-5, "keywords": 1},
    "ict8_lr5": {"per_chunk": 8, "lr": 5e-5},
    "ict8": {"per_chunk": 8},
    "ict4_rm": {"per_chunk": 4, "remove": True},
    "ict4_kw": {"per_chunk": 4, "keywords": 1},
    "ict4_w300": {"per_chunk": 4, "chunk_words": 300},
    "ict6_w300": {"per_chunk": 6, "chunk_words": 300},
    "ict_all": {"per_chunk": 99},
    "ict_all_e3": {"per_chunk": 99, "epochs": 3},
    "ict_all_lr5": {"per_chunk": 99, "lr": 5e-5},
    "crop4": {"queries": "crop", "per_chunk": 4},
    "mix4": {"queries": "ict+crop", "per_chunk": 4},
    "loose_all": {"queries": "loose", "per_chunk": 99},
    "loose_all_e2": {"queries": "loose", "per_chunk": 99, "epochs": 2},
    "loose_all_lr5": {"queries": "loose", "per_chunk": 99, "lr": 5e-5},
    "loose_all_rm": {"queries": "loose", "per_chunk": 99, "remove": True},
    "loose_all_w120": {"queries": "loose", "per_chunk": 99, "chunk_words": 120, "overlap": 30},
    "loose_all_w300": {"queries": "loose", "per_chunk": 99, "chunk_words": 300, "overlap": 50},
    "loose_all_b64": {"queries": "loose", "per_chunk": 99, "batch": 64},
}

_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+(?=[•●▪�])|\s{2,}")


def windows(words: list[str], size: int, overlap: int) -> list[str]:
    out, step = [], max(1, size - overlap)
    for start in range(0, max(1, len(words) - overlap), step):
        out.append(" ".join(words[start : start + size]))
    return out


def loose_sentences(text: str, min_words: int) -> list[str]:
    """Sentence-like spans: cut at sentence ends, colons, semicolons and bullets."""
    parts = [" ".join(p.split()) for p in _SPLIT.split(text)]
    return [p for p in parts if min_words <= len(p.split()) <= 40]


def make_pairs(chunks: list[str], cfg: dict, seed: int = 13) -> list[tuple[str, str]]:
    from core.generation.pseudo import ict_reject_reason, keyword_candidates, sentences

    rng = random.Random(seed)
    pairs = []
    for text in chunks:
        pool: list[str] = []
        if cfg["queries"] in ("ict", "ict+crop"):
            n_words = len(text.split())
            pool += [s for s in sentences(text) if ict_reject_reason(s, n_words) is None]
        if cfg["queries"] == "loose":
            pool += loose_sentences(text, cfg["min_words"])
        if cfg["queries"] in ("crop", "ict+crop"):
            words = text.split()
            for _ in range(cfg["per_chunk"]):
                n = rng.randint(6, 20)
                if len(words) > n:
                    s = rng.randrange(0, len(words) - n)
                    pool.append(" ".join(words[s : s + n]))
        chosen = rng.sample(pool, min(cfg["per_chunk"], len(pool)))
        for q in chosen:
            pos = " ".join(text.replace(q, " ").split()) if cfg["remove"] else text
            pairs.append((q, pos))
    if cfg.get("keywords"):
        rows = [{"id": i, "text": t} for i, t in enumerate(chunks)]
        for c in keyword_candidates(rows, cfg["keywords"]):
            pairs.append((c.query, chunks[c.chunk_id]))
    return pairs


def train(pairs: list[tuple[str, str]], cfg: dict, out_dir: Path):
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    from core.models import DEFAULT_BASE_MODEL, resolve_model

    model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
    model.max_seq_length = 256
    ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=cfg["epochs"],
        per_device_train_batch_size=cfg["batch"],
        learning_rate=cfg["lr"],
        warmup_ratio=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        logging_steps=1000,
        report_to=[],
        seed=42,
        use_cpu=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=ds, loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    return model, trainer.state.global_step


def score(model, evalset) -> dict[str, float]:
    from core.evaluation.metrics import evaluate
    from core.evaluation.search import dense_search

    results = dense_search(
        model,
        evalset.corpus,
        evalset.queries,
        top_k=100,
        doc_groups=evalset.doc_groups,
        query_groups=evalset.query_groups,
    )
    m = evaluate(evalset.qrels, results).aggregate
    return {k: round(m[k], 4) for k in ("Recall@1", "Recall@3", "Recall@10", "NDCG@10")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", default=str(DEV / "docs"))
    ap.add_argument("--beir", default=str(DEV))
    ap.add_argument("--group", default="syllabus")
    ap.add_argument("--variants", default="base,ict2")
    ap.add_argument("--out", default="/tmp/levers")
    ap.add_argument("--set", action="append", default=[], help="KEY=JSON for every variant")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    from sentence_transformers import SentenceTransformer

    from core.evaluation.datasets import beir_set
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    evalset = beir_set(args.beir, "test", group=args.group)
    docs = sorted(Path(args.docs).glob("*.txt"))
    texts = [p.read_text(errors="replace") for p in docs]
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for name in args.variants.split(","):
        cfg = {**DEFAULTS, **VARIANTS[name], **extra}
        t0 = time.perf_counter()
        if cfg.get("train") is False:
            model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
            n_pairs = steps = 0
        else:
            chunks = [
                w for t in texts for w in windows(t.split(), cfg["chunk_words"], cfg["overlap"])
            ]
            pairs = make_pairs(chunks, cfg)
            n_pairs = len(pairs)
            model, steps = train(pairs, cfg, Path(args.out) / name)
        row = {"variant": name, "pairs": n_pairs, "steps": steps, **score(model, evalset)}
        row["seconds"] = round(time.perf_counter() - t0)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
