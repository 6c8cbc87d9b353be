"""Concurrent curation (issue 9, case 4): no silent lost update, no half-done bulk action.

Two sessions are two processes' worth of state: each reads a pair (and its version), then
saves. A bulk accept killed with SIGKILL halfway leaves the database as it was before.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading

import pytest

from core.pairs import (
    StaleEditError,
    add_manual_pair,
    edit_question,
    get_pair,
    list_pairs,
    set_status,
    status_counts,
)
from core.store import Workspace
from tests.helpers import LOREM, run_python


@pytest.fixture
def pairs_ws(ws: Workspace) -> Workspace:
    from core.ingest import ingest_files

    ingest_files(ws, [("a.txt", LOREM.encode())])
    chunk = 1
    for i in range(120):
        add_manual_pair(ws, f"question number {i} about the lab reports?", [chunk], "pending")
    return ws


def _edits(ws: Workspace) -> int:
    with ws.connect() as conn:
        return conn.execute("SELECT COUNT(*) FROM pair_edits").fetchone()[0]


def test_second_stale_edit_is_refused_and_first_kept(pairs_ws):
    ws = pairs_ws
    seen_a = get_pair(ws, 1)  # session A opens the pair
    seen_b = get_pair(ws, 1)  # session B opens the same pair
    edit_question(ws, 1, "When is the lab report due?", seen_a["version"])
    with pytest.raises(StaleEditError, match="changed by someone else"):
        edit_question(ws, 1, "Who grades the final project?", seen_b["version"])
    pair = get_pair(ws, 1)
    assert pair["query"] == "When is the lab report due?" and pair["status"] == "edited"
    assert [e["new"] for e in pair["edits"] if e["field"] == "query"] == [
        "When is the lab report due?"
    ]
    # B reloads and saves on top of A's change: accepted, history keeps both.
    edit_question(ws, 1, "Who grades the final project?", get_pair(ws, 1)["version"])
    assert len([e for e in get_pair(ws, 1)["edits"] if e["field"] == "query"]) == 2


def test_status_change_after_edit_is_refused_when_stale(pairs_ws):
    ws = pairs_ws
    v = get_pair(ws, 2)["version"]
    edit_question(ws, 2, "Edited by session A?", v)
    with pytest.raises(StaleEditError):
        set_status(ws, [3, 2, 4], "rejected", expected_versions={3: 1, 2: v, 4: 1})
    # all-or-nothing: pairs 3 and 4 are untouched too
    assert {get_pair(ws, i)["status"] for i in (3, 4)} == {"pending"}
    assert get_pair(ws, 2)["status"] == "edited"


def test_racing_editors_exactly_one_wins(pairs_ws):
    ws = pairs_ws
    version = get_pair(ws, 5)["version"]
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def editor(i: int) -> None:
        barrier.wait()
        try:
            edit_question(ws, 5, f"Version written by editor {i}?", version)
            outcomes.append("saved")
        except StaleEditError:
            outcomes.append("stale")

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["saved"] + ["stale"] * 7
    pair = get_pair(ws, 5)
    assert pair["version"] == version + 1
    assert len([e for e in pair["edits"] if e["field"] == "query"]) == 1


_CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    import core.pairs as pairs
    from core.store import Workspace

    ws = Workspace.open(sys.argv[1])
    real_log = pairs._log
    seen = [0]

    def log_then_die(conn, pair_id, field, old, new, at):
        real_log(conn, pair_id, field, old, new, at)
        seen[0] += 1
        if seen[0] == 60:  # halfway through the bulk accept: the process dies on the spot
            os.kill(os.getpid(), signal.SIGKILL)

    pairs._log = log_then_die
    ids = [p["id"] for p in pairs.list_pairs(ws, status="pending")]
    pairs.accept(ws, ids)
    """
)


def test_bulk_accept_killed_halfway_leaves_db_consistent(pairs_ws):
    ws = pairs_ws
    before = status_counts(ws)
    edits_before = _edits(ws)
    proc = run_python(_CRASHER, str(ws.root), timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with ws.connect() as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert status_counts(ws) == before  # nothing half-accepted
    assert _edits(ws) == edits_before  # and no orphan history rows
    assert {p["version"] for p in list_pairs(ws)} == {1}
    # The workspace keeps working: the same bulk accept now succeeds in full.
    ids = [p["id"] for p in list_pairs(ws, status="pending")]
    assert set_status(ws, ids, "accepted") == len(ids) == 120
    assert os.path.exists(ws.db_path)
