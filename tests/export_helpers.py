"""One real export of the base model shared by the export, serve and Export-page tests.

`shared_export` builds it once per pytest session (in the session's base temp folder, so test
modules share it) from a workspace holding a run whose model is the base MiniLM and a few
real SciFact passages as chunks (so parity uses workspace texts, as in use).
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

from core.store import Workspace, now_iso
from tests.conftest import SCIFACT_DIR

RUN_ID = "run-export-test"
N_TEXTS = 16  # parity texts: enough to average, few enough to keep the tests fast


def scifact_passages(n: int) -> list[str]:
    with gzip.open(SCIFACT_DIR / "corpus.jsonl.gz", "rt") as f:
        return [json.loads(line)["text"] for line in itertools.islice(f, n)]


def add_run(ws: Workspace, run_id: str = RUN_ID) -> Path:
    """A `runs` row and `runs/<id>/model` holding the base model (as a training run leaves)."""
    from core import runs
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    path = ws.run_dir(run_id) / "model"
    load_sentence_model(DEFAULT_BASE_MODEL).save(str(path))
    config = {
        "base_model": DEFAULT_BASE_MODEL,
        "loss": "mnrl",
        "epochs": 1,
        "batch_size": 32,
        "learning_rate": 2e-5,
    }
    runs.record_run(ws, run_id, config)
    metrics = {"validation_base": {"ndcg@10": 0.5}, "validation": {"ndcg@10": 0.6}}
    runs.finish_run(ws, run_id, metrics)
    return path


def add_chunks(ws: Workspace, texts: list[str]) -> None:
    """One document whose chunks are `texts` (enough for the parity sample)."""
    with ws.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO documents (name, stored_path, sha256, format, size_bytes, text, created_at)"
            " VALUES ('scifact.txt', 'files/scifact.txt', 'x', 'txt', 0, ?, ?)",
            ("\n\n".join(texts), now_iso()),
        )
        for i, text in enumerate(texts):
            conn.execute(
                "INSERT INTO chunks (document_id, ord, text, start_char, end_char, n_tokens)"
                " VALUES (?, ?, ?, 0, 0, 0)",
                (cur.lastrowid, i, text),
            )


def shared_export(tmp_path_factory) -> tuple[Workspace, dict[str, Any]]:
    """(workspace, export info) built once per session: fp32 and int8 of the base model."""
    from core.export.pipeline import export_run, list_exports

    root = tmp_path_factory.getbasetemp() / "shared-export-ws"
    if (root / "studio.db").is_file():
        ws = Workspace.open(root)
        found = list_exports(ws)
        if found:
            return ws, found[0]
    ws = Workspace.create(root)
    add_run(ws)
    add_chunks(ws, scifact_passages(40))
    return ws, export_run(ws, RUN_ID, int8=True, n_texts=N_TEXTS)
