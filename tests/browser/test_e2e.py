"""The whole workflow in a real browser (issue 8): headless Chromium against `streamlit run`.

One test walks the pipeline as a user would, on an empty workspace: Home says what to do,
upload a document and see its chunks, ... (each later step is added as its page exists).
Every page is screenshotted into test-artifacts/browser/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.demo import demo_paths
from tests.browser.helpers import assert_no_exception, click_button, goto_page, shot, wait_text

pytestmark = pytest.mark.browser


def _upload_documents(page: Page, paths: list[Path]) -> None:
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


def test_full_workflow(page: Page, studio) -> None:
    t0 = time.monotonic()
    page.goto(studio["url"])
    wait_text(page, "This workspace is empty")
    expect(page.get_by_role("button", name="Load the demo documents")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Device: CPU|^Device: GPU"))).to_be_visible()
    shot(page, "00-home-empty")

    # Three real documents (Rust book chapters): from three on, one is held out as the test split.
    _upload_documents(page, demo_paths()[1:])

    goto_page(page, "Home", "Domain Embedding Studio")
    wait_text(page, "Next step")
    shot(page, "03-home-after-upload")

    goto_page(page, "Settings")
    wait_text(page, re.compile(r"Detected: (CPU|CUDA|MPS)"))
    shot(page, "09-settings")
    assert_no_exception(page)
    print(f"browser workflow took {time.monotonic() - t0:.0f}s")
