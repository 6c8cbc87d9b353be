"""The one on-disk cache of corpus embeddings: each text is embedded once per model.

Files live in `WS/cache/<space>-embeddings-<model key>.npz` (arrays `keys`, `emb`): `space`
names the corpus ("chunk" for the workspace's chunks, `beir-<hash>` for a BEIR folder) and the
model key changes whenever the model does: a model name as itself, a model folder by its path
and the size and modification time of its files, so a run trained again, resumed or merged
anew is never served the embeddings of its earlier weights. An entry's key is the hash of the
text embedded, so a changed chunk is embedded again and an unchanged one never is. Generation
(filters), the playground and the merge curve all read through here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store import Workspace

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

CHUNK_SPACE = "chunk"  # the workspace's chunks
SKIPPED_FILES = {"README.md"}  # the model card does not change the embeddings


def model_key(model_name: str) -> str:
    """What identifies the model's weights: its name, or for a folder the folder and the size
    and mtime (ns) of every file in it."""
    from core.models import resolve_model

    location = Path(resolve_model(model_name))
    if not location.is_dir():
        return model_name
    parts = [str(location.resolve())]
    for path in sorted(location.rglob("*")):
        if path.is_file() and path.name not in SKIPPED_FILES:
            stat = path.stat()
            parts.append(f"{path.relative_to(location)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def beir_space(folder: str | Path) -> str:
    """The cache space of a BEIR folder's corpus."""
    return "beir-" + hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:10]


def cache_path(ws: Workspace, space: str, model_name: str) -> Path:
    slug = hashlib.sha1(model_key(model_name).encode()).hexdigest()[:12]
    return ws.embeddings_file(space, slug)


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as data:
            return dict(zip(data["keys"].tolist(), data["emb"], strict=True))
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is rebuilt


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
    chunk: int = 512,
) -> np.ndarray:
    """Unit-length float32 embeddings (n, dim). `on_progress(done, total)` after each slice of
    `chunk` texts, so a job can report progress and stop on cancel between slices."""
    parts: list[np.ndarray] = []
    total = len(texts)
    for start in range(0, total, chunk):
        part = model.encode(
            list(texts[start : start + chunk]),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        parts.append(np.asarray(part, dtype=np.float32))
        if on_progress:
            on_progress(min(start + chunk, total), total)
    if not parts:
        dim = model.get_sentence_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(parts)


def embed_texts(
    ws: Workspace,
    space: str,
    texts: Sequence[str],
    model_name: str,
    embedder: Any = None,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """L2-normalised float32 embeddings [n, d] of `texts` by `model_name`, encoding only the
    texts the space's cache lacks; the file then holds exactly these texts. `embedder` (the
    loaded model) is loaded by name when needed and not given."""
    path = cache_path(ws, space, model_name)
    keys = [_text_key(t) for t in texts]
    cached = _read(path)
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cached}.values())
    if missing:
        if embedder is None:
            from core.models import load_sentence_model

            embedder = load_sentence_model(model_name)
        fresh = encode(embedder, [texts[i] for i in missing], batch_size, on_progress)
        cached.update(zip((keys[i] for i in missing), fresh, strict=True))
    elif on_progress:
        on_progress(len(texts), len(texts))
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.stack([cached[k] for k in keys]).astype(np.float32)
    if missing or len(cached) != len(set(keys)):
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
        unique = list(dict.fromkeys(keys))
        np.savez(tmp, keys=np.array(unique), emb=np.stack([cached[k] for k in unique]))
        os.replace(tmp, path)  # readers never see half a file
    return out


def chunk_embeddings(
    ws: Workspace, chunks: Sequence[dict], embedder: Any, model_name: str
) -> np.ndarray:
    """Embeddings of the workspace `chunks` (dicts with "text") [n, d], in their order."""
    return embed_texts(ws, CHUNK_SPACE, [c["text"] for c in chunks], model_name, embedder)
