"""Real questions from a related collection (core/related_questions.py): imported with their own
passages, kept out of the workspace's evaluation, trained in both fits, named in the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.evaluation.datasets import workspace_set
from core.pairs import PairError, accept_all, insert_pair, list_pairs
from core.related_questions import import_questions, imported_by_source
from core.store import Workspace
from core.training.config import TrainConfig
from core.training.data import load_training_data
from core.training.signal import training_signal
from tests.helpers import seed_two_documents


def write_beir(folder: Path) -> Path:
    """A related collection of two courses: 3 judged questions about course A (one judged
    against two passages, one empty), 1 about course B, one relevance-0 judgement."""
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "a::0", "title": "", "text": "Late work loses ten percent a day.", "course": "A"},
        {"_id": "a::1", "title": "Grades", "text": "The final exam is 40 percent.", "course": "A"},
        {"_id": "b::0", "title": "", "text": "Office hours are on Mondays.", "course": "B"},
    ]
    queries = [
        {"_id": "q1", "text": "What is the late penalty?"},
        {"_id": "q2", "text": "How much is the final worth?"},
        {"_id": "q3", "text": "   "},
        {"_id": "q4", "text": "When are office hours?"},
    ]
    qrels = [
        "query-id\tcorpus-id\tscore",
        "q1\ta::0\t1",
        "q2\ta::1\t1",
        "q2\ta::0\t1",
        "q3\ta::0\t1",
        "q4\tb::0\t1",
        "q4\ta::0\t0",
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return folder


def seed_workspace_pairs(ws: Workspace) -> list[int]:
    """Two documents; doc0's two pairs in train, doc1's in test (the held-out split)."""
    chunks = seed_two_documents(ws)
    with ws.transaction() as conn:
        for i, cid in enumerate(chunks):
            split = "train" if i < 2 else "test"
            insert_pair(
                conn,
                f"own question {i}?",
                [cid],
                kind="ict",
                origin="test",
                status="accepted",
                reason="kept",
                split=split,
            )
    return chunks


def test_beir_folder_imports_each_judged_pair_and_the_group_filter_leaves_out_a_course(
    ws, tmp_path
):
    beir = write_beir(tmp_path / "courses")
    skip = tmp_path / "evaluated.txt"
    skip.write_text("B\n")
    out = import_questions(ws, beir, group="course", skip_groups=["B"])
    assert {k: out[k] for k in ("source", "format", "imported", "questions", "empty")} == {
        "source": "courses",
        "format": "beir",
        "imported": 3,  # q1 + q2 twice (two passages); q3 is empty, q4 is course B
        "questions": 2,
        "empty": 1,
    }
    assert (out["left_out"], out["groups"]) == (1, 1)
    rows = list_pairs(ws)
    assert {r["status"] for r in rows} == {"accepted"}
    assert {r["source"] for r in rows} == {"courses"}
    assert all(r["n_positives"] == 0 for r in rows)  # their passages are not workspace chunks
    again = import_questions(ws, beir)
    assert (again["imported"], again["duplicates"]) == (1, 3)  # only course B's question is new
    assert imported_by_source(ws) == {"courses": {"pairs": 4, "questions": 3}}
    with pytest.raises(PairError, match="field 'term'"):
        import_questions(ws, beir, group="term", only_groups=["A"])
    assert len(list_pairs(ws)) == 4  # the refused import kept nothing


def test_cli_imports_jsonl_questions_and_counts_them(ws, tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "faq.jsonl"
    lines = [
        {"question": "Where is the lab?", "passage": "The lab is in room 101."},
        {"query": "Who grades the essays?", "text": "Teaching assistants grade essays."},
        {"question": "Where is the lab?", "passage": "The lab is in room 101."},
        {"question": "No answer?", "passage": ""},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert main(["pairs", str(ws.root), "--import-questions", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["import_questions"]
    assert (result["source"], result["imported"], result["duplicates"], result["empty"]) == (
        "faq",
        2,
        1,
        1,
    )
    assert main(["pairs", str(ws.root), "--import-questions", str(path)]) == 0
    assert "imported 0 question-passage pairs" in capsys.readouterr().out


def test_imported_questions_are_never_evaluated_and_train_in_both_fits(ws, tmp_path):
    seed_workspace_pairs(ws)
    import_questions(ws, write_beir(tmp_path / "courses"))
    imported = {r["query"] for r in list_pairs(ws) if r["source"]}
    accept_all(ws)  # a user's bulk accept touches no imported question's split or positives
    evalset = workspace_set(ws, "test")
    assert set(evalset.queries.values()) == {"own question 2?", "own question 3?"}
    for split in ("train", "all"):  # the split run and the final fit `RUN-all`
        data = load_training_data(ws, train_split=split)
        trained = {r.query for r in data.train if r.source == "courses"}
        assert trained == imported
        assert not set(data.val_queries.values()) & imported
    passages = {r.text_of_positive(data.chunk_text) for r in data.train if r.source}
    assert "Grades\n\nThe final exam is 40 percent." in passages
    counts = data.counts()
    # The preset follows the workspace's own pairs: the imported questions are counted apart.
    assert counts["records_by_kind"] == {"ict": 4}
    assert counts["imported_by_source"] == {"courses": 4}
    line = training_signal(ws, TrainConfig(final_fit=True)).sentence()
    assert line.startswith("2 workspace pairs + 4 imported pairs (3 real questions) from courses: ")


def test_training_run_card_and_metrics_name_the_source(ws, tmp_path):
    from core.jobs import get_job, run_worker
    from core.training.jobs import start_training

    seed_workspace_pairs(ws)
    import_questions(ws, write_beir(tmp_path / "courses"), source="last year's courses")
    cfg = TrainConfig(
        batch_size=4, max_steps=1, max_seq_length=64, device="cpu", validate_every_epoch=False
    )
    run_id, job_id = start_training(ws, cfg, spawn=False)
    assert run_worker(ws, job_id) == "succeeded"
    final = get_job(ws, job_id)["result"]["final_run_id"]
    for run in (run_id, final):
        metrics = json.loads((ws.run_dir(run) / "metrics.json").read_text())
        # The final fit continues the split run, which trained on the imported questions.
        trained = metrics["data"] if run == run_id else metrics["continued_from"]["data"]
        assert trained["imported_by_source"] == {"last year's courses": 4}
        card = (ws.run_dir(run) / "model" / "README.md").read_text()
        assert "4 records from `last year's courses`" in card
