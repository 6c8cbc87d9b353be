"""The first-run demo workspace, built from the sample documents shipped in `assets/samples/`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.chunking import ChunkingSettings
from core.ingest import collect_paths, ingest_files
from core.store import DB_NAME, Workspace

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
# Small windows keep the demo quick on a CPU: a few dozen chunks in all.
DEMO_CHUNKING = ChunkingSettings(mode="headings", chunk_words=200, overlap_words=30)


def build_demo_workspace(
    root: str | Path, on_progress: Callable[[str], None] | None = None
) -> tuple[Workspace, bool]:
    """Create the demo workspace if it does not exist yet; (workspace, created)."""
    root = Path(root)
    if (root / DB_NAME).is_file():
        ws = Workspace.open(root)
        if ws.counts()["documents"] > 0:
            return ws, False
    else:
        ws = Workspace.create(root)
    files = collect_paths([SAMPLES_DIR])
    results = ingest_files(
        ws,
        ((p.name, p.read_bytes()) for p in files),
        DEMO_CHUNKING,
        on_progress=(lambda i, n: on_progress(f"demo: [{i}/{len(files)}] {n}"))
        if on_progress
        else None,
    )
    failed = [r for r in results if r.status == "error"]
    if failed:
        raise RuntimeError(f"demo sample {failed[0].file} failed: {failed[0].error}")
    return ws, True
