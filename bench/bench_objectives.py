"""Ablation of the training objectives on SciFact (issue 5): base, MNRL, dual, CLP, soft,
MNRL+MoE on the same data, seed and step budget; nDCG@10 / Recall@10 on the test queries with
the delta vs base, and training seconds.

Pipeline: SciFact train qrels -> training records (one per (query, relevant doc)), hard negatives
mined with the base model (top-ranked non-relevant docs strictly below the sign-safe margin
min_pos - 0.05·|min_pos|), the trainer's `build_trainer` with each objective, exact dense search
of the test queries. To fit a shared 2-core CPU the defaults are reduced: a sample of train
queries (--train-queries), optionally of test queries (--test-queries), a step budget (--steps),
and a sub-corpus (every doc judged for the
sampled train and the test queries plus --extra-docs random others; --extra-docs -1 = full
corpus). Numbers from a reduced corpus are higher than full-corpus ones: compare rows only.

    python bench/bench_objectives.py --train-queries 200 --steps 20 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from common import SCIFACT, offline_env

offline_env()

CONFIGS = {
    "base": None,
    "mnrl": {"loss": "mnrl"},
    "dual": {"loss": "dual"},
    "clp": {"loss": "clp"},
    "soft": {"loss": "soft"},
    "mnrl+moe": {"loss": "mnrl", "moe": True},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(SCIFACT))
    ap.add_argument("--train-queries", type=int, default=200, help="sampled train queries")
    ap.add_argument("--test-queries", type=int, default=0, help="sample of test queries (0 = all)")
    ap.add_argument("--extra-docs", type=int, default=1000, help="-1 = full corpus")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per objective")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--negatives", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    ap.add_argument("--soft-experts", default="all-mpnet-base-v2,all-MiniLM-L6-v2")
    ap.add_argument("--json", default="", help="also write the table to this file")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from core.beir_data import doc_text, load_corpus, load_qrels, load_queries
    from core.evaluation.metrics import evaluate
    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from core.training.config import TrainConfig
    from core.training.data import TrainingData, TrainRecord
    from core.training.trainer import build_trainer

    rng = random.Random(args.seed)
    corpus, queries = load_corpus(args.data), load_queries(args.data)
    train_qrels, test_qrels = load_qrels(args.data, "train"), load_qrels(args.data, "test")
    train_q = sorted(q for q in train_qrels if q in queries)
    train_q = sorted(rng.sample(train_q, min(args.train_queries, len(train_q))))
    if args.test_queries > 0:
        keep = sorted(rng.sample(sorted(test_qrels), min(args.test_queries, len(test_qrels))))
        test_qrels = {q: test_qrels[q] for q in keep}
    judged = {d for q in train_q for d in train_qrels[q]} | {
        d for rel in test_qrels.values() for d in rel
    }
    judged &= set(corpus)
    others = sorted(set(corpus) - judged)
    if args.extra_docs >= 0:
        others = rng.sample(others, min(args.extra_docs, len(others)))
    doc_ids = sorted(judged | set(others))
    texts = [doc_text(corpus[d]) for d in doc_ids]
    test_queries = {q: queries[q] for q in test_qrels if q in queries}
    print(
        f"train queries {len(train_q)}, corpus {len(doc_ids)} docs, test queries "
        f"{len(test_queries)}, steps {args.steps} x batch {args.batch_size}",
        file=sys.stderr,
    )

    def fresh() -> SentenceTransformer:
        torch.manual_seed(args.seed)
        return SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")

    def score(model: SentenceTransformer, doc_emb: np.ndarray | None = None):
        if doc_emb is None:
            doc_emb = model.encode(texts, batch_size=32, normalize_embeddings=True)
        qids = list(test_queries)
        q_emb = model.encode([test_queries[q] for q in qids], normalize_embeddings=True)
        sims = q_emb @ doc_emb.T
        top = np.argsort(-sims, axis=1)[:, :100]
        results = {q: {doc_ids[j]: float(sims[i, j]) for j in top[i]} for i, q in enumerate(qids)}
        agg = evaluate(test_qrels, results).aggregate
        return agg["NDCG@10"], agg["Recall@10"]

    # ---- mining with the base model (also the base model's corpus embeddings)
    t0 = time.monotonic()
    base = fresh()
    doc_emb = base.encode(texts, batch_size=32, normalize_embeddings=True)
    index = {d: i for i, d in enumerate(doc_ids)}
    chunk_id = {d: i + 1 for i, d in enumerate(doc_ids)}  # TrainingData wants int ids
    q_emb = base.encode([queries[q] for q in train_q], normalize_embeddings=True)
    records, by_pos = [], {}
    for qi, q in enumerate(train_q):
        pos = [d for d, r in train_qrels[q].items() if r > 0 and d in index]
        if not pos:
            continue
        sims = doc_emb @ q_emb[qi]
        min_pos = min(sims[index[d]] for d in pos)
        cutoff = min_pos - 0.05 * abs(min_pos)
        negs = []
        for j in np.argsort(-sims):
            if len(negs) >= args.negatives:
                break
            if doc_ids[j] not in pos and sims[j] < cutoff:
                negs.append(chunk_id[doc_ids[j]])
        pos_ids = tuple(chunk_id[d] for d in pos)
        for d in pos:
            records.append(TrainRecord(qi, queries[q], chunk_id[d], pos_ids, tuple(negs)))
            by_pos.setdefault(chunk_id[d], []).append(queries[q])
    data = TrainingData(
        train=records,
        chunk_text={chunk_id[d]: t for d, t in zip(doc_ids, texts, strict=True)},
        queries_by_positive_chunk=by_pos,
    )
    print(f"mined in {time.monotonic() - t0:.0f}s: {len(records)} records", file=sys.stderr)

    rows = []
    base_ndcg = base_rec = None
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        spec = CONFIGS[name]
        t1 = time.monotonic()
        if spec is None:
            ndcg, rec = score(base, doc_emb)
            train_s = 0.0
        else:
            extra = dict(spec)
            if extra["loss"] == "soft":
                extra["soft_experts"] = args.soft_experts.split(",")
            config = TrainConfig(
                batch_size=args.batch_size,
                max_steps=args.steps,
                learning_rate=args.lr,
                negatives_per_query=args.negatives,
                seed=args.seed,
                **extra,
            )
            model = fresh()
            with __import__("tempfile").TemporaryDirectory() as tmp:
                trainer, build = build_trainer(model, config, data, Path(tmp))
                trainer.args.save_strategy = "no"
                trainer.train()
            train_s = time.monotonic() - t1  # includes building (soft: expert scoring)
            model.eval()
            ndcg, rec = score(model)
            if build.info:
                print(f"{name} info: {json.dumps(build.info, default=str)}", file=sys.stderr)
        if name == "base":
            base_ndcg, base_rec = ndcg, rec
        rows.append({"objective": name, "ndcg@10": ndcg, "recall@10": rec, "train_s": train_s})
        print(f"{name}: nDCG@10 {ndcg:.4f} R@10 {rec:.4f} ({train_s:.0f}s)", file=sys.stderr)

    print("| objective | nDCG@10 | Δ vs base | Recall@10 | Δ vs base | train s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        dn = f"{r['ndcg@10'] - base_ndcg:+.4f}" if base_ndcg is not None else "-"
        dr = f"{r['recall@10'] - base_rec:+.4f}" if base_rec is not None else "-"
        print(
            f"| {r['objective']} | {r['ndcg@10']:.4f} | {dn} | {r['recall@10']:.4f} | {dr} "
            f"| {r['train_s']:.0f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
