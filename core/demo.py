"""The first-run demo workspace, built from the sample documents shipped in `assets/samples/`.

Four chapters of the Rust book (MIT licence; see `assets/samples/SOURCES.md`), about 5,800
words, chunked into a few dozen passages. The workspace also gets small starting values
(`core.settings.DEMO_DEFAULTS`: one question per chunk, a few dozen training steps) so each
step of the pipeline finishes in minutes on a 2-core CPU. And it names the demo's real
question set (`assets/samples/questions/`: 60 hand-written questions with their answer
passages, scored per chapter), on which the one-click pipeline compares the retrievers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.chunking import ChunkingSettings
from core.ingest import ingest_files
from core.settings import DEMO_DEFAULTS, load_settings, save_settings, settings_path
from core.store import DB_NAME, Workspace

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
# Named explicitly: SOURCES.md (licences) sits in the same folder and is not a sample.
DEMO_FILES: tuple[str, ...] = (
    "rust-references-and-borrowing.md",
    "rust-to-panic-or-not-to-panic.md",
    "rust-controlling-how-tests-are-run.md",
    "rust-rc-reference-counting.md",
)
# Hand-written questions about the four chapters, a BEIR folder (see its README.md).
QUESTIONS_DIR = SAMPLES_DIR / "questions"
# No group: a question competes with all 43 passages. Per chapter (`--group document`) it
# would compete with 8 to 16, so every retriever has every answer in its top 10 (Recall@10
# 1.000) and the comparison reads as "too easy to tell" whatever the ranking.
QUESTIONS_GROUP = ""
# One chunk per section, split at 200 words: a few dozen chunks in all.
DEMO_CHUNKING = ChunkingSettings(mode="headings", chunk_words=200, overlap_words=30)


def demo_paths() -> list[Path]:
    """The sample documents, in a fixed order."""
    return [SAMPLES_DIR / name for name in DEMO_FILES]


def build_demo_workspace(
    root: str | Path, on_progress: Callable[[str], None] | None = None
) -> tuple[Workspace, bool]:
    """Create the demo workspace if it has no documents yet; (workspace, created).

    An existing workspace with documents is left as it is (running `make run` twice keeps
    the user's work). Settings are only written when the workspace has none yet.
    """
    root = Path(root)
    if (root / DB_NAME).is_file():
        ws = Workspace.open(root)
        if ws.counts()["documents"] > 0:
            return ws, False
    else:
        ws = Workspace.create(root)
    files = demo_paths()
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
    if not settings_path(ws).exists():
        settings = load_settings(ws)
        settings.defaults = DEMO_DEFAULTS
        settings.questions_dir = str(QUESTIONS_DIR)
        settings.questions_group = QUESTIONS_GROUP
        save_settings(ws, settings)
    return ws, True
