"""The Pairs page's Status filter in a real browser (issue 23, item 4): every status it lists
is on screen, lit when it is shown, and the table holds exactly the lit statuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core import pairs
from core.store import Workspace
from tests.browser.conftest import CHROMIUM, browser_page, run_studio
from tests.browser.helpers import goto_page, shot, wait_settled, wait_text
from tests.helpers import seed_pending_pairs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: apt `chromium`"),
]


def _listed(page) -> list[str]:
    """The questions of the review table's rows, as its "Show the source chunk(s) of" picker
    lists them (the table itself is drawn on a canvas)."""
    wait_settled(page)
    box = page.get_by_test_id("stSelectbox").filter(has_text="Show the source chunk(s) of")
    box.get_by_role("combobox").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = [re.sub(r"^#\d+: ", "", t) for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    expect(options).to_have_count(0)
    return sorted(texts)


def test_the_status_filter_shows_what_it_filters(browser, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    seed_pending_pairs(ws)  # "question 0?" … "question 3?"
    ids = [p["id"] for p in pairs.list_pairs(ws, status="pending")]
    pairs.accept(ws, ids[:1])  # question 0
    pairs.reject(ws, ids[1:2])  # question 1
    with run_studio(ws.root) as studio, browser_page(browser) as page:
        page.goto(studio["url"])
        goto_page(page, "2 Pairs")
        status = page.get_by_role("toolbar", name="Status")
        lit = status.locator("button[aria-pressed=true]")
        unlit = status.locator("button[aria-pressed=false]")
        # Four statuses selected: four lit pills, whatever the page's width.
        expect(lit).to_have_text(["pending (2)", "accepted (1)", "edited (0)", "rejected (1)"])
        expect(unlit).to_have_count(0)
        wait_text(page, "Showing 4 pairs with status pending or accepted or edited or rejected.")
        assert _listed(page) == ["question 0?", "question 1?", "question 2?", "question 3?"]
        shot(page, "pairs-filter-all")

        lit.filter(has_text="rejected (1)").click()
        expect(lit).to_have_text(["pending (2)", "accepted (1)", "edited (0)"])
        expect(unlit).to_have_text(["rejected (1)"])
        wait_text(page, "Showing 3 pairs with status pending or accepted or edited.")
        assert _listed(page) == ["question 0?", "question 2?", "question 3?"]
        shot(page, "pairs-filter-without-rejected")

        unlit.filter(has_text="rejected (1)").click()
        wait_text(page, "Showing 4 pairs")
        for name in ("pending", "accepted", "edited"):
            lit.filter(has_text=re.compile(rf"^{name} ")).click()
            expect(lit.filter(has_text=re.compile(rf"^{name} "))).to_have_count(0)
        expect(lit).to_have_text(["rejected (1)"])
        wait_text(page, "Showing 1 pair with status rejected.")
        assert _listed(page) == ["question 1?"]
        shot(page, "pairs-filter-rejected-only")
