"""Deleting a document takes its pairs, negatives and flags with it and marks the runs trained
on it (issue 23, item 2); the CLI lists documents and deletes one only with --yes."""

from __future__ import annotations

import json

import pytest

from core import runs
from core.cli import main
from core.documents import delete_document, deletion_impact, list_documents
from core.store import Workspace, now_iso
from tests.helpers import seed_two_documents


def _pair(conn, query: str, positives: list[int], positive_text: str | None = None) -> int:
    now = now_iso()
    cur = conn.execute(
        "INSERT INTO pairs (query, original_query, kind, origin, status, positive_text,"
        " created_at, updated_at) VALUES (?, ?, 'simple', 'test', 'accepted', ?, ?, ?)",
        (query, query, positive_text, now, now),
    )
    for chunk in positives:
        conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, chunk))
    return int(cur.lastrowid)


@pytest.fixture
def seeded(ws: Workspace) -> dict:
    """doc0.md (chunks a0, a1) and doc1.md (b0, b1); pairs only_a (a0), both (a0 + b0, with
    an own positive text), only_b (b0); one mining; a run from before any pair and one after."""
    runs.record_run(ws, "before", {"base_model": "m", "loss": "mnrl"})
    with ws.transaction() as conn:
        conn.execute("UPDATE runs SET created_at = '2000-01-01T00:00:00+00:00'")
    a0, a1, b0, b1 = seed_two_documents(ws)
    with ws.transaction() as conn:
        only_a = _pair(conn, "only in doc0?", [a0])
        both = _pair(conn, "in both?", [a0, b0], positive_text="cut from a0")
        only_b = _pair(conn, "only in doc1?", [b0])
        mining = conn.execute(
            "INSERT INTO minings (created_at, config) VALUES (?, '{}')", (now_iso(),)
        ).lastrowid
        negatives = [(only_a, b1), (both, b1), (only_b, a1), (only_b, b1)]
        for rank, (pair, chunk) in enumerate(negatives, 1):
            conn.execute(
                "INSERT INTO negatives VALUES (?, ?, ?, 0.5, ?)", (mining, pair, chunk, rank)
            )
        conn.execute("INSERT INTO false_negatives VALUES (?, ?, 'exclude', ?)", (only_b, a1, "t"))
    runs.record_run(ws, "after", {"base_model": "m", "loss": "mnrl"})
    doc0 = next(d.id for d in list_documents(ws) if d.name == "doc0.md")
    return {"doc0": doc0, "only_a": only_a, "both": both, "only_b": only_b, "b0": b0, "b1": b1}


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect() as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def test_no_pair_is_left_without_a_passage_after_a_delete(ws, seeded):
    preview = deletion_impact(ws, seeded["doc0"])
    removed = delete_document(ws, seeded["doc0"])

    assert removed == preview
    assert (removed.chunks, removed.pairs, removed.positives) == (2, 1, 1)
    # only_a's negative on b1 (its pair goes) and only_b's on a1 (its chunk goes).
    assert (removed.negatives, removed.false_negatives) == (2, 1)
    assert removed.runs == ("after",)
    # Every pair left has a positive, and every positive is a chunk that exists.
    assert (
        _rows(ws, "SELECT id FROM pairs WHERE id NOT IN (SELECT pair_id FROM pair_positives)") == []
    )
    assert (
        _rows(ws, "SELECT * FROM pair_positives WHERE chunk_id NOT IN (SELECT id FROM chunks)")
        == []
    )
    assert _rows(ws, "SELECT id FROM pairs ORDER BY id") == [(seeded["both"],), (seeded["only_b"],)]
    assert _rows(ws, f"SELECT chunk_id FROM pair_positives WHERE pair_id = {seeded['both']}") == [
        (seeded["b0"],)
    ]
    # The own positive text was cut from a chunk that is gone: the pair trains on b0's text.
    assert _rows(ws, f"SELECT positive_text FROM pairs WHERE id = {seeded['both']}") == [(None,)]
    assert _rows(ws, "SELECT pair_id, chunk_id FROM negatives ORDER BY pair_id") == [
        (seeded["both"], seeded["b1"]),
        (seeded["only_b"], seeded["b1"]),
    ]
    assert _rows(ws, "SELECT * FROM false_negatives") == []
    assert [d.name for d in list_documents(ws)] == ["doc1.md"]
    # The run trained while doc0 was there is marked, the older one is not; neither is deleted.
    marked = runs.trained_on_deleted(runs.get_run(ws, "after"))
    assert [(m["id"], m["name"]) for m in marked] == [(seeded["doc0"], "doc0.md")]
    assert runs.trained_on_deleted(runs.get_run(ws, "before")) == []


def test_documents_lists_and_counts_pairs(ws, seeded, capsys):
    assert main(["documents", str(ws.root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["documents"]
    assert [(d["name"], d["chunks"], d["pairs"]) for d in listed] == [
        ("doc0.md", 2, 2),
        ("doc1.md", 2, 2),
    ]


def test_cli_delete_without_yes_says_what_would_go_and_deletes_nothing(ws, seeded, capsys):
    code = main(["documents", str(ws.root), "--delete", str(seeded["doc0"]), "--json"])
    out = capsys.readouterr()
    assert code == 1
    would = json.loads(out.out)
    assert would["deleted"] is False
    assert (would["would_remove"]["chunks"], would["would_remove"]["pairs"]) == (2, 1)
    assert "--yes" in out.err
    assert len(list_documents(ws)) == 2 and len(_rows(ws, "SELECT id FROM pairs")) == 3


def test_cli_delete_with_yes_removes_and_reports(ws, seeded, capsys):
    args = ["documents", str(ws.root), "--delete", str(seeded["doc0"]), "--yes", "--json"]
    assert main(args) == 0
    removed = json.loads(capsys.readouterr().out)["removed"]
    assert removed["pairs"] == 1 and removed["negatives"] == 2 and removed["runs"] == ["after"]
    assert [d.name for d in list_documents(ws)] == ["doc1.md"]
    assert main(args) == 1
    assert f"no document {seeded['doc0']}" in capsys.readouterr().err
