"""Ingestion: uploaded files → stored originals, documents and chunks, one result per file.

A bad file fails alone with its reason; the other files of the same batch are ingested. Names
are reduced to a safe base name, so nothing is ever written outside the workspace's `files/`.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from core.chunking import Chunk, ChunkingSettings, chunker
from core.documents import find_by_hash, insert_chunks, insert_document, list_documents
from core.documents import replace_chunks as _replace_chunks
from core.extract import SUPPORTED_FORMATS, ExtractionError, extract_text
from core.models import DEFAULT_BASE_MODEL
from core.store import Workspace

DEFAULT_MAX_FILE_MB = 50.0
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 200  # UTF-8 bytes of a stored name, before its 17-byte hash prefix

Status = Literal["ingested", "duplicate", "error"]


@dataclass
class IngestResult:
    """Outcome for one file. `error` is set when status is "error"."""

    file: str
    status: Status
    document_id: int | None = None
    chunks: int = 0
    characters: int = 0
    format: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def safe_name(name: str) -> str:
    """A file name that cannot escape a folder: base name only, no NULs or odd characters."""
    name = name.replace("\x00", "").replace("\\", "/")
    base = name.rstrip("/").split("/")[-1]
    base = unicodedata.normalize("NFKC", base)
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    if not base:
        base = "unnamed"
    if len(base) > MAX_NAME_CHARS or len(base.encode()) > MAX_NAME_BYTES:
        stem, dot, ext = base.rpartition(".")
        if not (dot and len(ext) <= 10):
            stem, ext = base, ""
        suffix = f".{ext}" if ext else ""
        stem = stem[: MAX_NAME_CHARS - len(suffix)]
        # File systems limit names in bytes (255), and accented or CJK names take 2-4 bytes a
        # character; the stored name also carries a hash prefix and a ".part" suffix.
        while len((stem + suffix).encode()) > MAX_NAME_BYTES:
            stem = stem[:-1]
        base = stem + suffix
    return base


def ingest_files(
    ws: Workspace,
    files: Iterable[tuple[str, bytes]],
    settings: ChunkingSettings | None = None,
    model_name: str = DEFAULT_BASE_MODEL,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    on_progress: Callable[[int, str], None] | None = None,
) -> list[IngestResult]:
    """Ingest (name, bytes) pairs. `max_file_mb` is the per-file size limit in megabytes."""
    settings = settings or ChunkingSettings()
    settings.validate()
    cut = chunker(settings, model_name)
    results = []
    for i, (name, data) in enumerate(files):
        results.append(_ingest_one(ws, name, data, cut, max_file_mb))
        if on_progress:
            on_progress(i + 1, name)
    return results


def ingest_summary(statuses: list[str]) -> str:
    """One line for the end of an upload: "Ingested 2 of 3 files; 1 refused" (statuses of
    IngestResult: ingested, duplicate, error)."""
    n = len(statuses)
    parts = [f"Ingested {statuses.count('ingested')} of {n} file{'' if n == 1 else 's'}"]
    if dup := statuses.count("duplicate"):
        parts.append(f"{dup} already in the workspace")
    if refused := statuses.count("error"):
        parts.append(f"{refused} refused")
    return "; ".join(parts)


def _ingest_one(
    ws: Workspace,
    name: str,
    data: bytes,
    cut: Callable[[str], list[Chunk]],
    max_file_mb: float,
) -> IngestResult:
    display = safe_name(name)
    if len(data) > max_file_mb * 1024 * 1024:
        return IngestResult(
            display,
            "error",
            error=f"the file is {len(data) / 2**20:.1f} MB, over the {max_file_mb:g} MB limit",
        )
    digest = hashlib.sha256(data).hexdigest()
    with ws.connect() as conn:
        existing = find_by_hash(conn, digest)
    if existing is not None:
        return IngestResult(display, "duplicate", document_id=existing)
    try:
        fmt, text = extract_text(display, data)
        chunks = cut(text)
    except ExtractionError as exc:
        return IngestResult(display, "error", error=str(exc))
    if not chunks:
        return IngestResult(display, "error", error="no text found in the file")
    stored = ws.files_dir / f"{digest[:16]}-{display}"
    if not stored.resolve().is_relative_to(ws.files_dir.resolve()):
        return IngestResult(display, "error", error="unsafe file name")
    tmp = stored.with_name(stored.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, stored)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a full disk leaves half a file: give the space back
        return IngestResult(display, "error", error=f"cannot store the file: {exc.strerror}")
    try:
        with ws.transaction() as conn:
            if (existing := find_by_hash(conn, digest)) is not None:
                return IngestResult(display, "duplicate", document_id=existing)
            doc_id = insert_document(
                conn,
                name=display,
                stored_path=ws.relative(stored),
                sha256=digest,
                fmt=fmt,
                size_bytes=len(data),
                text=text,
            )
            insert_chunks(conn, doc_id, chunks)
    except Exception:
        stored.unlink(missing_ok=True)
        raise
    return IngestResult(display, "ingested", doc_id, len(chunks), len(text), fmt)


def collect_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus supported files found recursively in named folders."""
    out: list[Path] = []
    suffixes = {".txt", ".text", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm"}
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
        else:
            out.append(p)
    return out


def ingest_paths(
    ws: Workspace,
    paths: Iterable[str | Path],
    settings: ChunkingSettings | None = None,
    model_name: str = DEFAULT_BASE_MODEL,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[IngestResult]:
    """Ingest files and folders on disk (`embstudio ingest`, the one-click pipeline).

    Folders are searched recursively for supported files; `on_progress(done, total, name)`.
    A file that cannot be read is an error result of its own, not the end of the run."""
    files = collect_paths(paths)
    if not files:
        raise ValueError("no supported files found in the given paths")

    unreadable: dict[int, str] = {}

    def named_bytes() -> Iterator[tuple[str, bytes]]:
        for i, path in enumerate(files):
            try:
                data = path.read_bytes()
            except OSError as exc:
                data = b""
                unreadable[i] = f"cannot read {path}: {exc.strerror}"
            yield path.name, data

    results = ingest_files(
        ws,
        named_bytes(),
        settings,
        model_name=model_name,
        max_file_mb=max_file_mb,
        on_progress=(lambda i, name: on_progress(i, len(files), name)) if on_progress else None,
    )
    for i, why in unreadable.items():  # an unreadable file reads as empty: say why instead
        results[i].error = why
    return results


def rechunk_all(
    ws: Workspace, settings: ChunkingSettings, model_name: str = DEFAULT_BASE_MODEL
) -> int:
    """Re-chunk every document with new settings; returns the new chunk count."""
    from core.documents import document_text

    cut = chunker(settings, model_name)
    total = 0
    for doc in list_documents(ws):
        chunks = cut(document_text(ws, doc.id))
        _replace_chunks(ws, doc.id, chunks)
        total += len(chunks)
    return total


__all__ = ["SUPPORTED_FORMATS", "IngestResult", "collect_paths", "ingest_files", "safe_name"]
