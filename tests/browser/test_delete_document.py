"""Deleting a document on the Documents page in a real browser (issue 23): pick a document,
see what its deletion will remove, cancel (nothing goes), then delete it for real; the page
says what went, the document leaves the list, and no pair is left without a passage."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.documents import list_documents
from core.store import Workspace, now_iso
from tests.browser.conftest import CHROMIUM, browser_page, run_studio
from tests.browser.helpers import click_button, goto_page, shot, wait_text
from tests.helpers import seed_pending_pairs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: apt `chromium`"),
]


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect() as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def _seed(ws: Workspace) -> None:
    """doc0.md (chunks a0, a1) and doc1.md (b0, b1), the pairs of `seed_pending_pairs`
    (question 0 on a0, 1 on a1, 2 on b0, 3 on b1, a dropped one on a0) and "in both?" whose
    positives are a0 and b0."""
    a0, _a1, b0, _b1 = seed_pending_pairs(ws)
    with ws.transaction() as conn:
        now = now_iso()
        cur = conn.execute(
            "INSERT INTO pairs (query, original_query, kind, origin, status, created_at,"
            " updated_at) VALUES ('in both?', 'in both?', 'simple', 'test', 'accepted', ?, ?)",
            (now, now),
        )
        for chunk in (a0, b0):
            conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, chunk))


def _listed_documents(page: Page) -> list[str]:
    """The documents the "Preview chunks of" picker offers (the table is drawn on a canvas)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="Preview chunks of")
    box.get_by_role("combobox").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    expect(options).to_have_count(0)
    return texts


def test_deleting_a_document_asks_first_and_says_what_went(browser, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    _seed(ws)
    ids = {d.name: d.id for d in list_documents(ws)}
    doc1 = f"doc1.md (#{ids['doc1.md']})"
    pairs_before = _rows(ws, "SELECT id, query FROM pairs ORDER BY id")
    links_before = _rows(ws, "SELECT * FROM pair_positives ORDER BY pair_id, chunk_id")
    # doc1's chunks, its two own pairs (questions 2 and 3), the link of "in both?" to b0.
    what = (
        f"{doc1}: 2 chunks, 2 pairs, 0 mined negatives, 1 positive of pairs that keep another one"
    )

    with run_studio(ws.root) as studio, browser_page(browser, timeout_ms=120_000) as page:
        page.goto(studio["url"])
        goto_page(page, "1 Documents")
        wait_text(page, "Documents (2)")
        assert _listed_documents(page) == [f"doc0.md (#{ids['doc0.md']})", doc1]

        box = page.get_by_test_id("stSelectbox").filter(has_text="Preview chunks of")
        box.get_by_role("combobox").click()
        page.get_by_role("option", name=doc1, exact=True).click()
        expect(box.get_by_role("combobox")).to_have_value(doc1)

        click_button(page, "Delete this document", exact=True)
        warning = wait_text(page, f"Delete {what}? This cannot be undone.")
        shot(page, "delete-document-confirm")

        click_button(page, "Cancel", exact=True)
        expect(warning).to_have_count(0)
        expect(page.get_by_role("button", name="Yes, delete it")).to_have_count(0)
        wait_text(page, "Documents (2)")
        assert [d.name for d in list_documents(ws)] == ["doc0.md", "doc1.md"]
        assert _rows(ws, "SELECT id, query FROM pairs ORDER BY id") == pairs_before
        assert _rows(ws, "SELECT * FROM pair_positives ORDER BY pair_id, chunk_id") == links_before
        shot(page, "delete-document-cancelled")

        click_button(page, "Delete this document", exact=True)
        wait_text(page, f"Delete {what}? This cannot be undone.")
        click_button(page, "Yes, delete it", exact=True)
        wait_text(page, f"Deleted {what}.")
        wait_text(page, "Documents (1)")
        assert _listed_documents(page) == [f"doc0.md (#{ids['doc0.md']})"]
        shot(page, "delete-document-done")

    assert [d.name for d in list_documents(ws)] == ["doc0.md"]
    # Every pair left has a positive, and every positive is a chunk that exists.
    assert (
        _rows(ws, "SELECT id FROM pairs WHERE id NOT IN (SELECT pair_id FROM pair_positives)") == []
    )
    assert (
        _rows(ws, "SELECT * FROM pair_positives WHERE chunk_id NOT IN (SELECT id FROM chunks)")
        == []
    )
    assert sorted(q for _, q in _rows(ws, "SELECT id, query FROM pairs")) == [
        "in both?",
        "junk?",
        "question 0?",
        "question 1?",
    ]
