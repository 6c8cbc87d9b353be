"""The first run as a newcomer sees it (issue 23): `make run` builds the demo workspace and
starts the one-click pipeline (`embstudio demo WS --auto`), the app opens on Home with the job
running; when it ends, Home says which retriever is best on the demo's 60 real questions, by
how much, shows the retrievers' table and a next step that follows the result, and the
Evaluate page has its geometry.

Real pipeline, real models. To stay inside CI time the workspace's Settings train 2 steps per
fit instead of the demo's 20 (the mechanism a user has: Settings → run defaults). Screenshots:
test-artifacts/browser/first-run-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.auto import latest_auto_job, start_auto
from core.demo import build_demo_workspace
from core.evaluation.headline import Headline
from core.overview import advice
from core.settings import load_settings, save_settings
from tests.browser.conftest import CHROMIUM, browser_page, run_studio
from tests.browser.helpers import click_button, shot, wait_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PIPELINE_MS = 1_800_000  # seven stages of real work on a shared 2-core machine
TRAIN_STEPS = 2


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Iterator[dict]:
    """What `make run` does on a fresh clone: the demo workspace, its pipeline started, the
    app serving it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: install the Debian package `chromium` (.ci/run does)")
    ws, created = build_demo_workspace(tmp_path_factory.mktemp("first-run") / "demo")
    assert created
    settings = load_settings(ws)
    settings.defaults.train_max_steps = TRAIN_STEPS
    save_settings(ws, settings)
    job_id = start_auto(ws)  # as `embstudio demo WS --auto` does for a new demo
    with run_studio(ws.root) as info:
        yield {**info, "ws": ws, "job_id": job_id}


@pytest.fixture
def first_page(browser, first_run) -> Iterator[Page]:
    with browser_page(browser) as p:
        yield p


def test_a_newcomer_sees_which_retriever_is_best_on_real_questions(first_page: Page, first_run):
    page = first_page
    page.goto(first_run["url"])
    # Home opens on the running pipeline, without a click.
    wait_text(page, "The whole pipeline in one click")
    wait_text(page, re.compile(r"auto · running: stage [1-7]/7 \w+"))
    shot(page, "first-run-01-running")

    result_line = wait_text(
        page,
        re.compile(r"Best retriever on 60 real questions about these documents: "),
        PIPELINE_MS,
    )
    job = latest_auto_job(first_run["ws"])
    assert job is not None and job["id"] == first_run["job_id"], job
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    head = Headline(**result["headline"])
    assert head.n_queries == 60 and result["evaluated_run_id"] == result["final_run_id"]
    # The words: the best retriever, by how much, on how many questions.
    best = result["metrics"][head.best]["NDCG@10"]
    expect(result_line).to_contain_text(f"nDCG@10 {best:.3f}")
    if head.at_ceiling:
        wait_text(page, re.compile(r"^These questions are too easy to tell the retrievers apart"))
    # The table: the five retrievers, in a newcomer's words.
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    assert [m["label"] for m in result["models"]] == [
        "base",
        result["final_run_id"],
        "bm25",
        "base+bm25",
        f"{result['final_run_id']}+bm25",
    ]
    # Plural agreement on the step cards; each card's title opens its page.
    wait_text(page, re.compile(r"^4 documents · \d+ chunks$"))
    wait_text(page, "2 runs · 2 finished")
    expect(page.get_by_role("button", name="5 Evaluate")).to_be_visible()
    # "Next step" follows the result.
    step = advice(head)
    expect(page.get_by_role("heading", name="Next step")).to_be_visible()
    wait_text(page, step.why)
    expect(page.get_by_role("button", name=step.label)).to_be_visible()
    shot(page, "first-run-02-result")

    # The Evaluate page is complete: the pipeline's evaluation and its geometry.
    click_button(page, "See every figure on the Evaluate page")
    expect(page.get_by_role("heading", name="5 Evaluate").first).to_be_visible()
    expect(page.get_by_role("heading", name="Geometry")).to_be_visible()
    expect(page.get_by_text("No geometry yet")).to_have_count(0)
    shot(page, "first-run-03-evaluate")
