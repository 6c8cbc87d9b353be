"""Shared by the SciFact benchmarks: a workspace holding SciFact (train pairs, test pairs)."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.beir_data import import_beir, load_qrels  # noqa: E402
from core.store import Workspace  # noqa: E402

SCIFACT = Path(os.environ.get("EMBSTUDIO_SCIFACT") or REPO.parent / "shared" / "data" / "scifact")
RESULTS = REPO / "bench" / "results"


def scifact_workspace(root: Path, max_docs: int | None = None, seed: int = 0) -> Workspace:
    """Create (once) a workspace with SciFact imported: train qrels -> split train, test qrels
    -> split test. `max_docs` keeps every judged document plus random others up to that size."""
    if (root / "studio.db").is_file():
        return Workspace.open(root)
    ws = Workspace.create(root)
    doc_ids = None
    if max_docs:
        from core.beir_data import load_corpus

        judged = {d for s in ("train", "test") for r in load_qrels(SCIFACT, s).values() for d in r}
        others = sorted(set(load_corpus(SCIFACT)) - judged)
        random.Random(seed).shuffle(others)
        doc_ids = judged | set(others[: max(0, max_docs - len(judged))])
    import_beir(ws, SCIFACT, splits={"train": "train", "test": "test"}, doc_ids=doc_ids)
    return ws
