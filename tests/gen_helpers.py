"""A small real workspace for generation tests: one Rust book chapter in ~12 fixed chunks."""

from __future__ import annotations

from pathlib import Path

from core.chunking import ChunkingSettings
from core.ingest import ingest_files
from core.store import Workspace

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "assets" / "samples" / "rust-references-and-borrowing.md"


def ingest_sample(ws: Workspace, path: Path = SAMPLE, words: int = 120) -> Workspace:
    """Ingest `path` into `ws` with fixed windows of `words` words."""
    settings = ChunkingSettings(mode="fixed", chunk_words=words, overlap_words=20)
    results = ingest_files(ws, [(path.name, path.read_bytes())], settings)
    assert results[0].status == "ingested", results[0].error
    return ws


def prepared_workspace(root: Path) -> Path:
    """A workspace with the sample ingested and its chunk embeddings cached (for copying)."""
    from core.documents import list_chunks
    from core.embedding_cache import chunk_embeddings
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    ws = ingest_sample(Workspace.create(root))
    model = load_sentence_model(DEFAULT_BASE_MODEL)
    chunk_embeddings(ws, list_chunks(ws), model, DEFAULT_BASE_MODEL)
    return ws.root


def copy_workspace(src: Path, dst: Path) -> Workspace:
    """A private copy of a prepared workspace (cheaper than ingesting again)."""
    import shutil

    shutil.copytree(src, dst)
    return Workspace.open(dst)


def generate_openai(
    ws: Workspace, base_url: str, kinds: str, limit_chunks: int, *extra: str
) -> int:
    """`embstudio generate WS --provider openai --base-url URL --kinds K --limit-chunks N
    EXTRA` through the CLI's entry point; its exit code (output goes to capsys)."""
    from core.cli import main

    args = ["generate", str(ws.root), "--provider", "openai", "--base-url", base_url]
    return main([*args, "--kinds", kinds, "--limit-chunks", str(limit_chunks), *extra])


def openai_settings(fake, **kw):
    """GenerateSettings for the OpenAI provider at the fake server (tests/fake_openai.py):
    simple questions for 3 chunks, one retry, 5 s per request, unless `kw` says otherwise."""
    from core.generation.pipeline import GenerateSettings

    base: dict = {
        "provider": "openai",
        "base_url": fake.base_url,
        "kinds": ("simple",),
        "limit_chunks": 3,
        "max_retries": 1,
        "timeout_s": 5.0,
    }
    return GenerateSettings(**{**base, **kw})
