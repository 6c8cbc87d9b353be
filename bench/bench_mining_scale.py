"""Mining at scale: exact search vs the approximate indexes of `core.mining` vs
sentence-transformers' `mine_hard_negatives`, on random unit vectors (384-d).

Each query is a noisy copy of its positive chunk (cosine about 0.9). Every method mines K
negatives per query under the same relative margin; each runs in its own process, so that its
peak RSS is its own, and reports seconds (index build + search + selection; the vectors are
given, nothing is embedded) and peak RSS. Recall@K: the share of the exact search's K
negatives that a method also returns. Random vectors are the hardest case for an approximate
index: they have no clusters, so a query's neighbours lie in any of the IVF lists.

sentence-transformers' function takes a model and texts; it is given a model that returns the
same vectors for the texts "c<i>" and "q<i>" (`PrecomputedModel`), with use_faiss=True.

    python bench/bench_mining_scale.py [--chunks 1000000] [--queries 10000]
        [--methods exact,ivf,hnsw,st] [--st-chunks N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, peak_rss_mb, run_worker

K, MARGIN, DIM = 4, 0.05, 384


def vectors(n_chunks: int, n_queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chunks [n, 384], queries [q, 384], positive row of each query), unit length, seed 0."""
    rng = np.random.default_rng(0)
    chunks = rng.standard_normal((n_chunks, DIM), dtype=np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    pos = rng.integers(0, n_chunks, n_queries)
    noise = rng.standard_normal((n_queries, DIM), dtype=np.float32)
    queries = chunks[pos] + 0.5 * noise / np.sqrt(DIM)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return chunks, queries, pos


def worker_ours(kind: str, n_chunks: int, n_queries: int, out: str) -> dict:
    from core.mining import MiningSettings, mine_embeddings

    chunks, queries, pos = vectors(n_chunks, n_queries)
    t0 = time.perf_counter()
    res = mine_embeddings(
        queries, chunks, [[int(p)] for p in pos], MiningSettings(negatives=K, index=kind)
    )
    seconds = time.perf_counter() - t0
    neg = np.full((n_queries, K), -1, np.int64)
    for i, sel in enumerate(res.selections):
        ids = [c for c, _, _ in sel.negatives]
        neg[i, : len(ids)] = ids
    np.save(out, neg)
    return {"seconds": seconds, "stats": res.stats}


class PrecomputedModel:
    """Just enough of a SentenceTransformer for `mine_hard_negatives`: "c<i>" and "q<i>"
    encode to the given rows (the bench compares search and selection, not embedding)."""

    def __init__(self, chunks: np.ndarray, queries: np.ndarray) -> None:
        import torch

        self.chunks, self.queries, self.device = chunks, queries, torch.device("cpu")

    def get_embedding_dimension(self) -> int:
        return DIM

    def encode_document(self, texts: list[str], **_: object) -> np.ndarray:
        return self.chunks[[int(t[1:]) for t in texts]]

    def encode_query(self, texts: list[str], **_: object) -> np.ndarray:
        return self.queries[[int(t[1:]) for t in texts]]

    def similarity_pairwise(self, a, b):
        import torch

        return torch.as_tensor((np.asarray(a) * np.asarray(b)).sum(axis=1))


def worker_st(n_chunks: int, n_queries: int, out: str) -> dict:
    from datasets import Dataset
    from sentence_transformers import mine_hard_negatives

    chunks, queries, pos = vectors(n_chunks, n_queries)
    model = PrecomputedModel(chunks, queries)
    t0 = time.perf_counter()
    ds = Dataset.from_dict(
        {"anchor": [f"q{i}" for i in range(n_queries)], "positive": [f"c{p}" for p in pos]}
    )
    mined = mine_hard_negatives(
        ds,
        model,  # type: ignore[arg-type]
        corpus=[f"c{i}" for i in range(n_chunks)],
        relative_margin=MARGIN,
        num_negatives=K,
        use_faiss=True,
        output_format="n-tuple",
        verbose=False,
    )
    seconds = time.perf_counter() - t0
    neg = np.full((n_queries, K), -1, np.int64)
    by_query = {row["anchor"]: row for row in mined}
    for i in range(n_queries):
        row = by_query.get(f"q{i}")
        if row is not None:
            neg[i] = [int(row[f"negative_{j + 1}"][1:]) for j in range(K)]
    np.save(out, neg)
    return {"seconds": seconds, "rows": len(mined)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact negatives (not -1) that `found` also holds, per query, pooled."""
    hits = total = 0
    for f, t in zip(found, truth, strict=True):
        t = {int(x) for x in t if x >= 0}
        hits += len(t & {int(x) for x in f if x >= 0})
        total += len(t)
    return hits / total if total else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--methods", default="exact,ivf,st", help="from exact,ivf,hnsw,st")
    ap.add_argument("--st-chunks", type=int, default=None, help="corpus for ST (default: same)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, n, q, out = args.worker[0], int(args.worker[1]), int(args.worker[2]), args.worker[3]
        result = worker_st(n, q, out) if kind == "st" else worker_ours(kind, n, q, out)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}, default=float))
        return

    methods = [m for m in args.methods.split(",") if m]
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for m in methods:
            n = args.st_chunks or args.chunks if m == "st" else args.chunks
            files[m] = str(Path(tmp) / f"{m}.npy")
            rows[m] = {"chunks": n, **run_worker(__file__, m, str(n), str(args.queries), files[m])}
            print(json.dumps({m: rows[m]}, default=float), flush=True)
        truth = np.load(files["exact"]) if "exact" in files else None
        for m in methods:
            same = truth is not None and rows[m]["chunks"] == rows["exact"]["chunks"]
            rows[m]["recall_at_k"] = recall(np.load(files[m]), truth) if same else None

    print(f"\n{args.queries} queries, K={K} negatives, relative margin {MARGIN}, 384-d")
    print("| method | chunks | index | seconds | peak RSS MB | recall@K vs exact |")
    print("|---|---|---|---|---|---|")
    for m, r in rows.items():
        index = r.get("stats", {}).get("index", "faiss flat (mine_hard_negatives)")
        rec = f"{r['recall_at_k']:.3f}" if r["recall_at_k"] is not None else "–"
        print(
            f"| {m} | {r['chunks']:,} | {index} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {rec} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"queries": args.queries, "k": K, "margin": MARGIN, "rows": rows}
    (RESULTS / "mining_scale.json").write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
