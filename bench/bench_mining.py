"""Mining benchmark: our miner vs sentence-transformers' `mine_hard_negatives` on SciFact
(same model, inputs, K and margin), and peak memory on 200,000 random 384-d chunk vectors
with 10,000 queries. Each measurement runs in its own process so peak RSS is its own.

    python bench/bench_mining.py [--max-docs N] [--synthetic-chunks 200000 --synthetic-queries 10000]
"""

from __future__ import annotations

import argparse
import json
import time

from common import RESULTS, peak_rss_mb, run_worker, scifact_workspace

K, MARGIN, BATCH = 4, 0.05, 64


def worker_ours(ws_path: str) -> dict:
    import faiss  # noqa: F401  (imported before timing, as the ST worker imports its modules)
    import sentence_transformers  # noqa: F401

    from core.mining import MiningSettings, mine_workspace
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    t0 = time.perf_counter()
    out = mine_workspace(
        ws, MiningSettings(negatives=K, relative_margin=MARGIN, splits=("train",), batch_size=BATCH)
    )
    return {"seconds": time.perf_counter() - t0, "stats": out["stats"]}


def worker_st(ws_path: str) -> dict:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, mine_hard_negatives

    from core.devices import resolve_device
    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from core.store import Workspace
    from core.training.data import curated_pairs

    ws = Workspace.open(ws_path)
    with ws.connect() as conn:
        text = dict(conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall())
    rows = [(q, text[c]) for q, pos in curated_pairs(ws, "train").values() for c in pos]
    t0 = time.perf_counter()
    model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device=resolve_device())
    ds = Dataset.from_dict({"anchor": [a for a, _ in rows], "positive": [p for _, p in rows]})
    out = mine_hard_negatives(
        ds,
        model,
        corpus=list(text.values()),
        relative_margin=MARGIN,
        num_negatives=K,
        batch_size=BATCH,
        use_faiss=True,
        output_format="n-tuple",
        verbose=False,
    )
    return {"seconds": time.perf_counter() - t0, "rows": len(out)}


def worker_synthetic(n_chunks: int, n_queries: int) -> dict:
    import numpy as np

    from core.mining import MiningSettings, mine_embeddings

    rng = np.random.default_rng(0)
    chunks = rng.standard_normal((n_chunks, 384), dtype=np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    pos = rng.integers(0, n_chunks, n_queries)
    queries = chunks[pos] + 0.5 * rng.standard_normal((n_queries, 384), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    t0 = time.perf_counter()
    res = mine_embeddings(queries, chunks, [[int(p)] for p in pos], MiningSettings(negatives=K))
    return {"seconds": time.perf_counter() - t0, "stats": res.stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-docs", type=int, default=None, help="SciFact corpus cap (all: 5183)")
    ap.add_argument("--synthetic-chunks", type=int, default=200_000)
    ap.add_argument("--synthetic-queries", type=int, default=10_000)
    ap.add_argument("--skip-scifact", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, rest = args.worker[0], args.worker[1:]
        if kind == "ours":
            result = worker_ours(rest[0])
        elif kind == "st":
            result = worker_st(rest[0])
        else:
            result = worker_synthetic(int(rest[0]), int(rest[1]))
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}, default=float))
        return

    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS / "mining.json"
    report: dict = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if not args.skip_scifact:
        root = RESULTS / f"mining_ws_{args.max_docs or 'all'}"
        ws = scifact_workspace(root, args.max_docs)
        with ws.connect() as conn:
            n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        ours = run_worker(__file__, "ours", str(ws.root))
        st = run_worker(__file__, "st", str(ws.root))
        report["scifact"] = {"chunks": n_chunks, "ours": ours, "sentence_transformers": st}
        print(f"SciFact train queries vs {n_chunks} chunks, K={K}, relative margin {MARGIN}:")
        print(f"  ours: {ours['seconds']:.1f} s, peak RSS {ours['peak_rss_mb']:.0f} MB")
        print(
            f"  sentence-transformers mine_hard_negatives: {st['seconds']:.1f} s, "
            f"peak RSS {st['peak_rss_mb']:.0f} MB"
        )
        print(
            f"  ratio ours/ST: time {ours['seconds'] / st['seconds']:.2f}x, "
            f"memory {ours['peak_rss_mb'] / st['peak_rss_mb']:.2f}x"
        )
        print(f"  stats: {ours['stats']}")
    if not args.skip_synthetic:
        syn = run_worker(
            __file__, "synthetic", str(args.synthetic_chunks), str(args.synthetic_queries)
        )
        report["synthetic"] = syn
        print(
            f"Synthetic {args.synthetic_chunks} x 384-d chunks, {args.synthetic_queries} "
            f"queries: {syn['seconds']:.1f} s, peak RSS {syn['peak_rss_mb']:.0f} MB "
            f"({'under' if syn['peak_rss_mb'] < 2048 else 'OVER'} 2 GB)"
        )
    out_path.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
