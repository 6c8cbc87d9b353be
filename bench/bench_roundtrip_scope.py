"""What the round-trip filter's scope does to the writers' questions (issue 14), after
`bench/bench_writer.py` has written them.

The product's round trip keeps an LLM question only when its source chunk ranks in the top 3
of *every* chunk of the workspace. `bench_writer.py --calibrate` shows that rule keeps a third
of real syllabus questions ("When is the second midterm?" has a rival in every syllabus),
against three quarters when the rivals are the chunks of the question's own document. This
script re-reads each setting's workspace of `bench_writer.py` (`bench/results/writer_ws/NAME`)
and keeps, besides what the product kept, every question dropped by the round trip alone
whose source chunk is in the top 3 of its own document and passes the `generic` test
(core.generation.filters.specificity) and the duplicate test; then it trains on them as
`bench_writer.py` does, mixed with the inverse-cloze pairs of its `ict` workspace,
and scores the dev questions per syllabus.

    python bench/bench_roundtrip_scope.py --settings qwen-concrete-0shot,smollm2-concrete-0shot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bench_writer  # workspaces, training and scoring of the writer bench


def document_scope_pairs(ws_path: Path, embedder) -> tuple[list[tuple[str, str, str]], dict]:
    """The pairs kept with the round trip scoped to the source chunk's document."""
    import numpy as np

    from core import pairs
    from core.documents import list_chunks
    from core.generation.filters import FilterSettings, specificity
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    chunks = list_chunks(ws)
    index = {c["id"]: i for i, c in enumerate(chunks)}
    doc = np.array([c["document_id"] for c in chunks])
    chunk_emb = embedder.encode([c["text"] for c in chunks], normalize_embeddings=True)
    rows = pairs.list_pairs(ws)
    kept = [p for p in rows if p["status"] != "dropped"]
    retry = [p for p in rows if p["status"] == "dropped" and p["reason"].startswith("roundtrip")]
    settings = FilterSettings()
    chosen = list(kept)
    chosen_emb = [embedder.encode(p["query"], normalize_embeddings=True) for p in kept]
    counts = {"kept": len(kept), "roundtrip_dropped": len(retry), "rank": 0, "generic": 0}
    for p in retry:
        q = embedder.encode(p["query"], normalize_embeddings=True)
        col = index[p["chunk_id"]]
        same = doc == doc[col]
        scores = chunk_emb @ q
        if int(((scores > scores[col]) & same).sum()) >= settings.roundtrip_k:
            counts["rank"] += 1
            continue
        spec = specificity(q, [col], {col: col}, chunk_emb, same, settings.generic_k)
        if spec is not None and spec < settings.min_specificity:
            counts["generic"] += 1
            continue
        if chosen_emb and float(np.max(np.stack(chosen_emb) @ q)) >= settings.duplicate_cosine:
            continue
        chosen.append(p)
        chosen_emb.append(q)
    counts["document_scope_kept"] = len(chosen)
    text = {c["id"]: c["text"] for c in chunks}
    return [(p["query"], text[p["chunk_id"]], p["kind"]) for p in chosen], counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--settings", required=True, help="comma list of bench_writer setting names")
    ap.add_argument("--beir", default=str(bench_writer.DEV))
    ap.add_argument("--no-train", action="store_true", help="counts only")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    from core.evaluation.datasets import beir_set
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    embedder = load_sentence_model(DEFAULT_BASE_MODEL)
    folder = bench_writer.RESULTS / "writer_ws"
    ict_pairs = bench_writer.kept_pairs(folder / "ict")
    evalset = None if args.no_train else beir_set(args.beir, "test", group="syllabus")
    print("| setting | kept (workspace scope) | document scope kept | +ict R@3 | +ict nDCG@10 |")
    print("|---|---:|---:|---:|---:|")
    for name in args.settings.split(","):
        chosen, counts = document_scope_pairs(folder / name, embedder)
        print(f"{name}: {counts}", file=sys.stderr, flush=True)
        mixed = {}
        if evalset is not None and chosen:
            mixed = bench_writer.train_and_score(chosen + ict_pairs, f"{name}+ict-doc", evalset)
        r3, nd = mixed.get("Recall@3"), mixed.get("NDCG@10")
        print(
            f"| {name} | {counts['kept']} | {counts['document_scope_kept']} | "
            f"{bench_writer._f(r3)} | {bench_writer._f(nd)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
