"""The pair store: versioned edits, accept/reject, bulk accept, manual pairs, JSONL and BEIR."""

from __future__ import annotations

import json

import pytest

from core import pairs
from core.cli import main as cli_main
from core.store import Workspace
from tests.helpers import seed_pending_pairs, seed_two_documents


def test_list_filters(ws):
    seed_pending_pairs(ws)
    assert len(pairs.list_pairs(ws)) == 5
    assert [p["query"] for p in pairs.list_pairs(ws, kind="ict")] == ["question 3?"]
    assert len(pairs.list_pairs(ws, status="pending", min_score=3.0)) == 2
    assert [p["reason"] for p in pairs.list_pairs(ws, status="dropped")] == ["junk: refusal"]
    doc1 = pairs.list_pairs(ws, document_id=2)
    assert {p["query"] for p in doc1} == {"question 2?", "question 3?"}
    full = pairs.get_pair(ws, doc1[0]["id"])
    assert full["positives"][0]["text"].startswith("chunk 1-")


def test_edit_is_versioned_and_logged_and_stale_edit_refused(ws):
    seed_pending_pairs(ws)
    p = pairs.list_pairs(ws)[0]
    out = pairs.edit_question(ws, p["id"], "How is question zero phrased?", p["version"])
    assert out == {"id": p["id"], "version": p["version"] + 1, "changed": True}
    with pytest.raises(pairs.StaleEditError, match="changed by someone else"):
        pairs.edit_question(ws, p["id"], "A stale edit?", p["version"])
    full = pairs.get_pair(ws, p["id"])
    assert full["query"] == "How is question zero phrased?" and full["status"] == "edited"
    assert full["original_query"] == "question 0?"
    assert [(e["field"], e["old"], e["new"]) for e in full["edits"]] == [
        ("query", "question 0?", "How is question zero phrased?"),
        ("status", "pending", "edited"),
    ]
    assert all(e["at"] for e in full["edits"])


def test_accept_reject_many_in_one_transaction(ws):
    seed_pending_pairs(ws)
    ids = [p["id"] for p in pairs.list_pairs(ws, status="pending")]
    versions = {p["id"]: p["version"] for p in pairs.list_pairs(ws)}
    pairs.edit_question(ws, ids[1], "changed meanwhile?", None)
    with pytest.raises(pairs.StaleEditError):
        pairs.accept(ws, ids[:2], expected_versions=versions)
    assert pairs.get_pair(ws, ids[0])["status"] == "pending"  # nothing applied
    assert pairs.accept(ws, ids[:2]) == 2
    assert pairs.reject(ws, [ids[2]]) == 1
    counts = pairs.status_counts(ws)
    assert counts["accepted"] == 2 and counts["rejected"] == 1 and counts["pending"] == 1
    assert pairs.get_pair(ws, ids[2])["edits"][-1]["new"] == "rejected"


def test_bulk_accept_above_score_and_accept_all(ws):
    seed_pending_pairs(ws)
    assert pairs.accept_min_score(ws, 3.0) == 2
    assert pairs.status_counts(ws)["accepted"] == 2
    assert pairs.accept_all(ws) == 2  # the 2.0 one and the unscored one; dropped stays dropped
    assert pairs.status_counts(ws)["dropped"] == 1


def test_manual_pair(ws):
    chunk_ids = seed_pending_pairs(ws)
    pid = pairs.add_manual_pair(ws, "  Which chunks talk about doc one? ", chunk_ids[2:])
    p = pairs.get_pair(ws, pid)
    assert p["query"] == "Which chunks talk about doc one?" and p["status"] == "accepted"
    assert [c["chunk_id"] for c in p["positives"]] == chunk_ids[2:] and p["origin"] == "manual"
    with pytest.raises(pairs.PairError, match="no chunk"):
        pairs.add_manual_pair(ws, "q?", [99999])
    with pytest.raises(pairs.PairError, match="at least one chunk"):
        pairs.add_manual_pair(ws, "q?", [])


def test_jsonl_export_import_roundtrip(ws, tmp_path):
    seed_pending_pairs(ws)
    path = tmp_path / "pairs.jsonl"
    assert pairs.export_jsonl(ws, path) == 5
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["positives"][0]["text"] == "chunk 0-0 text"

    other = Workspace.create(tmp_path / "other")
    seed_two_documents(other)
    result = pairs.import_jsonl(other, path)
    assert result["imported"] == 5 and result["skipped"] == 0
    again = pairs.import_jsonl(other, path)
    assert again["imported"] == 0 and again["duplicates"] == 5  # idempotent
    imported = pairs.list_pairs(other)
    assert sorted(p["query"] for p in imported) == sorted(r["query"] for r in records)
    assert {p["status"] for p in imported} == {"pending", "dropped"}
    assert imported[0]["origin"] == "import:pairs.jsonl"


def test_cli_pairs_import_beir_accept_and_export(ws, tmp_path, capsys):
    beir = tmp_path / "mini"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "Borrowing", "text": "A reference borrows a value."})
        + "\n"
        + json.dumps({"_id": "d2", "title": "Panics", "text": "A panic unwinds the stack."})
        + "\n"
    )
    (beir / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "what is a borrow"}) + "\n"
    )
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    seed_pending_pairs(ws)
    out_file = tmp_path / "out.jsonl"
    rc = cli_main(
        [
            "pairs",
            str(ws.root),
            "--import",
            str(beir),
            "--accept-min-score",
            "4",
            "--export",
            str(out_file),
            "--json",
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert payload["import"]["imported"] == 1 and payload["import"]["format"] == "beir"
    assert payload["accepted"] == 1
    assert payload["exported"] == 6 and len(out_file.read_text().splitlines()) == 6
    real = pairs.list_pairs(ws, kind="real")
    assert real[0]["query"] == "what is a borrow" and real[0]["split"] == "test"
