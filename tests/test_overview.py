"""Home's overview: counts per step and the next step to take."""

from core.demo import build_demo_workspace
from core.overview import next_step, overview


def test_empty_workspace_starts_with_documents(ws):
    c = overview(ws)
    assert c["documents"] == 0 and c["exports"] == 0
    assert next_step(c).page == "documents"


def test_next_step_follows_the_pipeline():
    c = {"documents": 1, "pairs": 0}
    order = []
    for update in (
        {},
        {"pairs": 5},
        {"pairs_curated": 3},
        {"negatives": 12},
        {"runs_succeeded": 1},
        {"evaluations": 1},
    ):
        c.update(update)
        order.append(next_step(c).page)
    assert order == ["pairs", "pairs", "negatives", "train", "evaluate", "export"]
    c["exports"] = 1
    assert next_step(c) is None


def test_overview_counts_real_chunks(tmp_path):
    ws, _ = build_demo_workspace(tmp_path / "demo")
    c = overview(ws)
    assert c["documents"] == 4 and c["chunks"] > 20 and c["pairs_curated"] == 0
    assert next_step(c).page == "pairs"
