"""The one-click pipeline in a real browser (issue 18): on Home, "Run the whole pipeline with
defaults" runs every stage as one job, Home follows it stage by stage and shows its result,
and its link opens the Evaluate page on that base-vs-tuned evaluation.

The workspace is three small documents (a few hundred words each), so the whole chain runs in
a few minutes on a loaded 2-core machine. Screenshots: test-artifacts/browser/auto-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from core.auto import latest_auto_job
from core.ingest import ingest_paths
from core.store import Workspace
from tests.browser.conftest import CHROMIUM, browser_page, run_studio
from tests.browser.helpers import click_button, shot, wait_text
from tests.helpers import tiny_documents

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PIPELINE_MS = 900_000  # six stages as real work on a shared 2-core machine


@pytest.fixture(scope="module")
def small_studio(tmp_path_factory) -> Iterator[dict]:
    """A running studio on a workspace holding three small documents."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: install the Debian package `chromium` (.ci/run does)")
    root = tmp_path_factory.mktemp("auto-browser")
    ws = Workspace.create(root / "ws")
    ingest_paths(ws, tiny_documents(root / "docs"))
    with run_studio(ws.root) as info:
        yield {**info, "ws": ws}


@pytest.fixture
def small_page(browser, small_studio) -> Iterator[Page]:
    with browser_page(browser) as p:
        yield p


def test_one_click_pipeline_reaches_the_evaluate_page(small_page: Page, small_studio) -> None:
    page = small_page
    page.goto(small_studio["url"])
    wait_text(page, "The whole pipeline in one click")
    shot(page, "auto-01-home")
    click_button(page, "Run the whole pipeline with defaults")
    # Home follows the job stage by stage, with a Cancel button.
    wait_text(page, re.compile(r"auto · running: stage [1-7]/7 \w+"))
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    shot(page, "auto-02-running")
    wait_text(page, re.compile(r"^Pipeline finished in \d+ s"), PIPELINE_MS)
    # No question set in this workspace: the held-out split, in words.
    expect(
        page.get_by_text(re.compile(r"Best retriever on \d+ held-out test questions?")).first
    ).to_be_visible()
    shot(page, "auto-03-home-finished")

    job = latest_auto_job(small_studio["ws"])
    assert job is not None and job["status"] == "succeeded", job
    run_id, evaluation_id = job["result"]["run_id"], job["result"]["evaluation_id"]
    click_button(page, "See every figure on the Evaluate page")
    expect(page.get_by_role("heading", name="5 Evaluate").first).to_be_visible()
    # The evaluation shown first is the pipeline's: base vs its split run on the test split.
    chosen = page.get_by_role("combobox", name="Evaluation")
    expect(chosen).to_have_value(re.compile(rf"workspace:test · .*{re.escape(run_id)}"))
    wait_text(page, re.compile(r"\d+ queries, \d+ documents"))
    expect(page.get_by_text(re.compile(rf"^Wins of {re.escape(run_id)}"))).to_be_visible()
    shot(page, "auto-04-evaluate")
    assert evaluation_id.startswith("eval-")
