"""Home's overview: counts per step and the next step to take."""

from core.demo import build_demo_workspace
from core.evaluation.headline import Headline
from core.overview import NextStep, advice, next_step, overview, result_rows, result_words


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


# ----------------------------------------------------------------------------- the result's words


def _result(scores: dict[str, float], base_recall10: float = 0.9, dataset: str = "beir") -> dict:
    """The one-click pipeline's result (core.auto.summary) for an evaluation scoring `scores`."""
    from dataclasses import asdict

    from core.evaluation.headline import headline
    from tests.helpers import evaluation_payload

    payload = evaluation_payload(scores, n=60, base_recall10=base_recall10)
    return {
        "pipeline": "auto-x",
        "run_id": "RUN",
        "final_run_id": "RUN-all",
        "seconds": 321.4,
        "dataset": dataset,
        "metrics": {m["label"]: m["metrics"] for m in payload["models"]},
        "models": [
            {"label": m["label"], "kind": m["kind"], "run_id": m["run_id"]}
            for m in payload["models"]
        ],
        "headline": asdict(headline(payload)),
    }


GAIN = {"base": 0.70, "RUN-all": 0.74, "bm25": 0.72, "base+bm25": 0.76, "RUN-all+bm25": 0.80}
NO_GAIN = {"base": 0.70, "RUN-all": 0.71, "bm25": 0.72, "base+bm25": 0.76, "RUN-all+bm25": 0.75}


def _advice(result: dict) -> NextStep:
    """The next step Home advises after an evaluation with this `result`."""
    return advice(Headline(**result["headline"]))


def test_plural_agreement():
    from core.overview import plural

    assert [plural(n, "run") for n in (0, 1, 2)] == ["0 runs", "1 run", "2 runs"]
    assert plural(1, "query", "queries") == "1 query"


def test_the_result_says_which_retriever_is_best_by_how_much_on_how_many_questions():

    result = _result(GAIN)
    assert result_words(result) == [
        "Best retriever on 60 real questions about these documents: the tuned model + keyword "
        "search, nDCG@10 0.800, +0.040 over the best retriever without fine-tuning, the base "
        "model + keyword search (0.760)."
    ]
    assert [r["label"] for r in result_rows(result)] == list(GAIN)
    assert result_rows(result)[2] == {
        "retriever": "keyword search (BM25)",
        "label": "bm25",
        "nDCG@10": 0.72,
        "Recall@3": 0.73,
    }
    step = _advice(result)
    assert (step.page, step.label) == ("export", "Export the tuned model")


def test_no_gain_says_fine_tuning_did_not_help_and_what_to_try():

    result = _result(NO_GAIN)
    assert result_words(result) == [
        "Best retriever on 60 real questions about these documents: the base model + keyword "
        "search, nDCG@10 0.760. Fine-tuning did not beat it: the best tuned retriever, the "
        "tuned model + keyword search, scores 0.750 (-0.010)."
    ]
    step = _advice(result)
    assert (step.page, step.label) == ("pairs", "Write better training questions")
    assert step.why.startswith("The base model fused with keyword search is the best")
    assert "import real questions" in step.why and "write LLM questions" in step.why
    keyword = _advice(_result({**NO_GAIN, "bm25": 0.9}))
    assert keyword.why.startswith("Keyword search beats the tuned model")


def test_a_tuned_lead_within_the_noise_is_not_called_a_gain():

    # The default demo run, measured 2026-12-05: the tuned hybrid 0.004 above the base hybrid.
    close = {**NO_GAIN, "RUN-all": 0.749, "base+bm25": 0.760, "RUN-all+bm25": 0.764}
    result = _result(close)
    assert result_words(result) == [
        "Best retriever on 60 real questions about these documents: the tuned model + keyword "
        "search, nDCG@10 0.764, +0.004 over the best retriever without fine-tuning, the base "
        "model + keyword search (0.760): too small a difference to count."
    ]
    step = _advice(result)
    assert (step.page, step.label) == ("pairs", "Write better training questions")
    assert step.why.startswith("Fine-tuning on pseudo-queries did not clearly beat")


def test_at_ceiling_it_says_the_questions_are_too_easy():

    easy = {k: 0.97 for k in GAIN}
    result = _result({**easy, "RUN-all": 0.975}, base_recall10=1.0, dataset="workspace")
    words = result_words(result)
    assert words[0].startswith(
        "These questions are too easy to tell the retrievers apart: the base model already "
        "ranks nearly every answer near the top (Recall@3 0.980"
    )
    assert words[1].startswith("Best retriever on 60 held-out test questions")
    step = _advice(result)
    assert (step.page, step.label) == ("pairs", "Import real questions")


def test_next_step_after_an_evaluation_follows_its_result():

    c = {"documents": 1, "pairs": 5, "pairs_curated": 5, "negatives": 3, "runs_succeeded": 1}
    c["evaluations"] = 1
    gained = Headline(**_result(GAIN)["headline"])
    flat = Headline(**_result(NO_GAIN)["headline"])
    assert next_step(c, gained).page == "export"
    assert next_step(c, flat).page == "pairs"
    c["exports"] = 1
    assert next_step(c, gained) is None
    assert next_step(c, flat).label == "Write better training questions"


def _home_workspace(tmp_path, result: dict):
    """One document of one chunk, one stored evaluation and the pipeline job that made it."""
    import json

    from core.chunking import Chunk
    from core.documents import insert_chunks, insert_document
    from core.jobs import finish_job, start_job
    from core.store import Workspace, now_iso
    from tests.helpers import evaluation_payload

    ws = Workspace.create(tmp_path / "ws")
    with ws.transaction() as conn:
        doc = insert_document(
            conn, name="a.md", stored_path="", sha256="h", fmt="md", size_bytes=4, text="text"
        )
        insert_chunks(conn, doc, [Chunk(0, "chunk text", "", 0, 2, 2)])
    scores = {label: metrics["NDCG@10"] for label, metrics in result["metrics"].items()}
    report = ws.root / "evaluations" / "eval-x" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps(evaluation_payload(scores)))
    with ws.connect() as conn:
        conn.execute(
            "INSERT INTO evaluations (created_at, dataset, models, metrics, report_path)"
            " VALUES (?, 'beir:questions:test', '[]', '{}', ?)",
            (now_iso(), str(report.relative_to(ws.root))),
        )
    job = start_job(ws, "auto", {"pipeline": "auto-x", "files": []}, spawn=False)
    finish_job(ws, job, "succeeded", result=result)
    return ws


def _after_the_pipeline(monkeypatch) -> None:
    """Home's counts also hold what the pipeline made: pairs, a mining, two runs."""
    import core.overview

    real = core.overview.overview
    made = {"pairs": 40, "pairs_curated": 40, "pairs_accepted": 40, "negatives": 120}
    made |= {"minings": 1, "runs": 2, "runs_succeeded": 2}
    monkeypatch.setattr(core.overview, "overview", lambda ws: {**real(ws), **made})


def test_home_shows_the_result_in_words_and_the_step_cards_link_to_their_pages(
    tmp_path, monkeypatch
):
    from tests.helpers import page_app

    ws = _home_workspace(tmp_path, _result(NO_GAIN))
    _after_the_pipeline(monkeypatch)
    at = page_app(ws, "0_Home.py").run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info][-1].startswith(
        "Best retriever on 60 real questions about these documents: the base model + keyword "
        "search, nDCG@10 0.760. Fine-tuning did not beat it"
    )
    assert not at.success  # nothing green when nothing tuned gained
    assert list(at.dataframe[0].value["label"]) == list(NO_GAIN)
    captions = [c.value for c in at.caption]
    assert "1 document · 1 chunk" in captions
    assert "1 evaluation" in captions and "2 runs · 2 finished" in captions
    assert any(c.startswith("Pipeline finished in 321 s.") for c in captions)
    # Each step card's title is a link to its page.
    cards = {b.key: b.label for b in at.button if b.key and b.key.startswith("home_card_")}
    assert cards == {
        "home_card_pages/1_Documents.py": "1 Documents",
        "home_card_pages/2_Pairs.py": "2 Pairs",
        "home_card_pages/3_Negatives.py": "3 Negatives",
        "home_card_pages/4_Train.py": "4 Train",
        "home_card_pages/5_Evaluate.py": "5 Evaluate",
        "home_card_pages/6_Export.py": "6 Export",
    }
    # The next step follows the result: better questions, not "Export".
    assert "Next step" in [h.value for h in at.subheader]
    assert "Write better training questions" in [b.label for b in at.button]
    assert "Export the model" not in [b.label for b in at.button]


def test_home_green_only_when_a_tuned_retriever_gained(tmp_path, monkeypatch):
    from tests.helpers import page_app

    ws = _home_workspace(tmp_path, _result(GAIN))
    _after_the_pipeline(monkeypatch)
    at = page_app(ws, "0_Home.py").run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Best retriever on 60 real questions")
    assert "Export the tuned model" in [b.label for b in at.button]
