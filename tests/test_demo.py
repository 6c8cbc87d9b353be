"""The first-run demo: real sample documents, a few dozen chunks, small defaults, idempotent."""

from core.demo import DEMO_FILES, SAMPLES_DIR, build_demo_workspace
from core.documents import list_documents
from core.settings import DEMO_DEFAULTS, load_settings


def test_demo_workspace(tmp_path):
    ws, created = build_demo_workspace(tmp_path / "demo")
    assert created
    docs = list_documents(ws)
    assert sorted(d.name for d in docs) == sorted(DEMO_FILES)
    counts = ws.counts()
    assert 20 <= counts["chunks"] <= 60  # a few dozen: every step runs in minutes on a CPU
    assert all(d.n_chunks >= 3 for d in docs)
    assert load_settings(ws).defaults == DEMO_DEFAULTS

    again, created_again = build_demo_workspace(tmp_path / "demo")
    assert not created_again
    assert again.counts() == counts


def test_every_sample_has_its_source_and_licence():
    sources = (SAMPLES_DIR / "SOURCES.md").read_text()
    for name in DEMO_FILES:
        assert (SAMPLES_DIR / name).stat().st_size > 2000
        assert f"`{name}`" in sources
    assert "MIT" in sources
