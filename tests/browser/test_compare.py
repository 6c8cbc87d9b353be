"""Base vs tuned in a real browser (issue 18): a typed question shows both rankings, a
regression opens in the Playground, the merge slider moves the curve's marked point.

The workspace is made before the server starts (the tiny evaluation workspace, a nudged MiniLM
run, a saved evaluation and a merge curve against a four-document general set), so the browser
only does what a user would on these pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, browser_page, run_studio
from tests.browser.helpers import click_button, goto_page, shot, wait_text
from tests.playground_helpers import compared_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN = "run-t"


@pytest.fixture(scope="module")
def compared_studio(tmp_path_factory) -> Iterator[dict]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: install the Debian package `chromium` (.ci/run does)")
    ws = compared_workspace(tmp_path_factory.mktemp("compare"))
    with run_studio(ws.root) as info:
        yield info


@pytest.fixture
def cpage(browser, compared_studio) -> Iterator[Page]:
    with browser_page(browser, timeout_ms=120_000) as p:
        p.goto(compared_studio["url"])
        yield p


def test_typed_question_shows_the_rankings_with_keyword_search(cpage: Page) -> None:
    goto_page(cpage, "Playground")
    wait_text(cpage, "Type a question above")
    box = cpage.get_by_role("textbox", name="Your question", exact=True)
    box.fill("Why does bread dough rise?")
    box.press("Enter")
    # Four columns: model A, model B, keyword search and B fused with it, passage text shown.
    keyword = cpage.locator(".st-key-pg_col_kw")
    expect(keyword.get_by_text("Keyword search")).to_be_visible(timeout=180_000)
    expect(keyword.get_by_text("bm25", exact=True)).to_be_visible()
    expect(keyword.get_by_text(re.compile("yeast")).first).to_be_visible()
    expect(cpage.locator(".st-key-pg_col_hy").get_by_text("Hybrid")).to_be_visible()
    expect(cpage.get_by_text(f"{RUN}-mix50", exact=True).last).to_be_visible()
    shot(cpage, "20-playground-typed-question")


def test_the_evaluate_page_shows_the_five_retrievers(cpage: Page) -> None:
    goto_page(cpage, "5 Evaluate")
    table = cpage.get_by_test_id("stTable")
    for label in ("base", RUN, "bm25", "base+bm25", f"{RUN}+bm25"):
        expect(table.get_by_role("rowheader", name=label, exact=True)).to_be_visible()
    wait_text(cpage, re.compile(r"^Best for these documents: "))
    shot(cpage, "25-evaluate-five-retrievers")


def test_a_regression_opens_in_the_playground(cpage: Page) -> None:
    goto_page(cpage, "5 Evaluate")
    expect(cpage.get_by_role("heading", name="Regressions")).to_be_visible()
    expect(cpage.get_by_role("link", name="See them query by query in Regressions")).to_be_visible()
    expect(cpage.get_by_test_id("stPlotlyChart").nth(1)).to_be_visible()  # per-query deltas
    shot(cpage, "21-evaluate-regressions")
    click_button(cpage, "Open in the Playground")
    expect(cpage.get_by_role("heading", name="Playground").first).to_be_visible()
    wait_text(cpage, re.compile(r"^Known positive c\d+: "), timeout_ms=180_000)
    expect(cpage.get_by_text(re.compile(r"^Known positive at rank \d"))).to_have_count(4)
    expect(cpage.get_by_text(RUN, exact=True).last).to_be_visible()
    shot(cpage, "22-playground-regression")


def test_the_merge_slider_moves_the_marked_point(cpage: Page) -> None:
    goto_page(cpage, "5 Evaluate")
    marked = cpage.locator("p", has_text=re.compile(r"^Marked: α = "))
    expect(marked).to_have_text(re.compile(rf"^Marked: α = 0\.5 \({RUN}-mix50\)"))
    shot(cpage, "23-merge-curve-alpha-0.5")
    slider = cpage.get_by_test_id("stSlider").filter(has_text="Mix α").get_by_role("slider")
    slider.focus()
    slider.press("ArrowRight")  # 0.75: not on this curve, no mark
    expect(marked).to_have_count(0)
    slider.press("ArrowRight")
    expect(marked).to_have_text(re.compile(rf"^Marked: α = 1 \({RUN}\)"))
    shot(cpage, "24-merge-curve-alpha-1")
