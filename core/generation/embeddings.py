"""Embeddings a generation run reads: questions and chunks under the base model, the chunks'
cached in the workspace so that reruns encode only new or changed chunks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.store import Workspace


def embedding_dim(embedder: Any) -> int:
    """The width of the vectors `embedder` (a SentenceTransformer) returns."""
    return int(embedder.get_sentence_embedding_dimension())


def encode(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised embeddings [n, d] of `texts` (an empty [0, d] array for none)."""
    if not texts:
        return np.zeros((0, embedding_dim(embedder)), dtype=np.float32)
    return np.asarray(
        embedder.encode(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )


def chunk_embeddings(
    ws: Workspace, chunks: Sequence[dict], embedder: Any, model_name: str
) -> np.ndarray:
    """L2-normalised embeddings of `chunks` [n, d], cached in the workspace (cache/ folder) by
    model name and chunk text, so reruns encode only new or changed chunks."""
    slug = hashlib.sha1(model_name.encode()).hexdigest()[:12]
    path = ws.root / "cache" / f"chunk-embeddings-{slug}.npz"
    keys = [hashlib.sha1(f"{c['id']}:{c['text']}".encode()).hexdigest() for c in chunks]
    cached: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path) as data:
                cached = dict(zip(data["keys"].tolist(), data["emb"], strict=True))
        except (OSError, ValueError, KeyError):
            cached = {}  # a damaged cache is rebuilt
    missing = [i for i, k in enumerate(keys) if k not in cached]
    if missing:
        fresh = encode(embedder, [chunks[i]["text"] for i in missing])
        for i, row in zip(missing, fresh, strict=True):
            cached[keys[i]] = row
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
        np.savez(tmp, keys=np.array(keys), emb=np.stack([cached[k] for k in keys]))
        os.replace(tmp, path)
    if not keys:
        return np.zeros((0, embedding_dim(embedder)), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32)
