"""The whole workflow in a real browser (issue 8): headless Chromium against `streamlit run`.

One test walks the pipeline as a user would, on an empty workspace: Home says what to do;
upload three real documents and see their chunks; write questions through the local
OpenAI-compatible test server (real HTTP from the generation job); accept them; mine hard
negatives; train a few steps; evaluate base vs tuned (metrics table and plots) and compute the
geometry; export to ONNX; Home then shows every step done. Every page is screenshotted into
test-artifacts/browser/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.demo import demo_paths
from tests.browser.helpers import (
    LONG_MS,
    assert_no_exception,
    click_button,
    goto_page,
    set_multiselect,
    set_number,
    set_text,
    shot,
    wait_text,
)
from tests.fake_openai import FakeOpenAI

# Several minutes on a 2-core CPU (generation, mining, training, evaluation, ONNX export as real
# jobs): kept out of the default suite's time budget; `.ci/run` runs it explicitly.
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def upload_documents(page: Page, paths: list[Path]) -> None:
    goto_page(page, "1 Documents")
    wait_text(page, "No documents yet")
    shot(page, "01-documents-empty")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in paths])
    click_button(page, re.compile(rf"Ingest {len(paths)} file"))
    for path in paths:
        wait_text(page, re.compile(rf"{re.escape(path.name)}: \d+ chunks"))
    expect(page.get_by_text(f"Documents ({len(paths)})")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ chunks$"))).to_be_visible()  # the chunk preview
    shot(page, "02-documents-chunks")


def generate_and_accept_pairs(page: Page, llm_url: str) -> None:
    goto_page(page, "2 Pairs")
    set_multiselect(page, "Kinds", ["simple"])  # an LLM kind: the writer's controls show
    page.get_by_role("radiogroup", name="Question writer").get_by_text("openai").click()
    set_text(page, "Base URL (empty = OpenAI)", llm_url)
    set_number(page, "Per chunk (0 = defaults)", 1)
    shot(page, "03-pairs-generate")
    click_button(page, "Generate", exact=True)
    wait_text(page, re.compile(r"Last generation: kept [1-9]"), LONG_MS)
    # The job's end reruns the whole page (ui/job_panel.py): its pairs are there, no reload.
    expect(page.get_by_role("heading", name="Review")).to_be_visible(timeout=10_000)
    shot(page, "04-pairs-review")
    set_number(page, "Accept all pending with judge ≥", 1.0)
    click_button(page, "Bulk accept")
    wait_text(page, re.compile(r"Accepted [1-9]\d* pending pairs"))
    shot(page, "05-pairs-accepted")


def mine_negatives(page: Page) -> None:
    goto_page(page, "3 Negatives")
    wait_text(page, "No negatives mined yet")
    click_button(page, "Mine negatives")
    # The per-query view (filter, tables, score plot) appears when the mining job has finished.
    expect(page.get_by_text("Filter queries")).to_be_visible(timeout=LONG_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    shot(page, "06-negatives-mined")


def train_model(page: Page) -> None:
    goto_page(page, "4 Train")
    wait_text(page, "No runs yet")
    # A few small steps: the point is the workflow, not the model (2-core CI machine).
    set_number(page, "Batch size", 16)
    set_number(page, "Hard negatives per record (empty = preset)", 1)
    page.get_by_role("button", name="More settings").click()
    set_number(page, "Max steps", 2)
    set_number(page, "Max seq length", 128)
    page.keyboard.press("Escape")
    shot(page, "07-train-settings")
    click_button(page, "Start training")
    finished = re.compile(r"^Run run-\S+ finished: 2 steps")  # the finished run's line
    expect(page.get_by_text(finished)).to_be_visible(timeout=LONG_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()  # the loss curve
    shot(page, "08-train-finished")


def evaluate(page: Page) -> None:
    goto_page(page, "5 Evaluate")
    wait_text(page, "No evaluation yet")
    # Model B defaults to the newest finished run: base vs tuned on the held-out test split.
    expect(page.get_by_role("combobox", name="Model B (candidate)")).to_have_value(
        re.compile(r"^run-")
    )
    click_button(page, "Evaluate", exact=True)
    expect(page.get_by_role("combobox", name="Evaluation")).to_be_visible(timeout=LONG_MS)
    wait_text(page, re.compile(r"\d+ queries, \d+ documents"))
    expect(page.get_by_text(re.compile(r"^Wins of "))).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()  # metrics per k
    shot(page, "09-evaluate-metrics")
    page.get_by_role("radiogroup", name="Projection").get_by_text("pca").click()
    click_button(page, "Compute geometry")
    expect(page.get_by_text("No geometry yet")).to_have_count(0, timeout=LONG_MS)
    expect(page.get_by_test_id("stPlotlyChart").nth(2)).to_be_visible()
    shot(page, "10-evaluate-geometry")


def export(page: Page) -> None:
    goto_page(page, "6 Export")
    wait_text(page, "No export yet")
    set_number(page, "Parity texts", 16)
    click_button(page, "Export", exact=True)
    wait_text(page, "Parity with PyTorch and speed", LONG_MS)
    expect(page.get_by_role("button", name=re.compile(r"^Download .*\.zip"))).to_be_visible()
    serve = page.locator('[data-testid="stCode"]:visible', has_text="embstudio serve")
    expect(serve.first).to_be_visible()  # (the model card's hidden copy does not count)
    shot(page, "11-export")


def test_full_workflow(page: Page, studio) -> None:
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - t0 - sum(timings.values()), 1)

    page.goto(studio["url"])
    wait_text(page, "This workspace is empty")
    expect(page.get_by_role("button", name="Load the demo documents")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Device: (CPU|GPU)"))).to_be_visible()
    shot(page, "00-home-empty")
    lap("home")

    # Three real documents (Rust book chapters): from three on, one is held out as the test split.
    upload_documents(page, demo_paths()[1:])
    lap("documents")
    with FakeOpenAI() as llm:
        generate_and_accept_pairs(page, llm.base_url)
    lap("pairs")
    mine_negatives(page)
    lap("negatives")
    train_model(page)
    lap("train")
    evaluate(page)
    lap("evaluate")
    export(page)
    lap("export")

    goto_page(page, "Home", "Domain Embedding Studio")
    # Two training steps gain nothing on these few questions: Home's next step follows the
    # evaluation (better questions), not "every step done".
    expect(page.get_by_role("heading", name="Next step")).to_be_visible()
    expect(page.get_by_text("Every step has been done once")).to_have_count(0)
    shot(page, "12-home-done")
    goto_page(page, "Settings")
    wait_text(page, re.compile(r"Detected: (CPU|CUDA|MPS)"))
    shot(page, "13-settings")
    assert_no_exception(page)
    lap("home+settings")
    print(f"browser workflow: {time.monotonic() - t0:.0f}s {timings}")
