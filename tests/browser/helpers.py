"""Small Playwright helpers for Streamlit pages: navigate, wait for text, screenshot, no errors."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS

LONG_MS = 240_000  # jobs (generation, training) on a loaded 2-core machine
# Streamlit reruns and a loaded 2-core CI box: wait generously for what a user would see.
expect.set_options(timeout=60_000)


def goto_page(page: Page, title: str, heading: str | None = None) -> None:
    """Open a page through the sidebar navigation, like a user, and wait for its heading."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=heading or title).first).to_be_visible()


def wait_text(page: Page, text: str | re.Pattern, timeout_ms: int = 60_000):
    """Wait until `text` is visible somewhere on the page; returns its locator."""
    loc = page.get_by_text(text).first
    expect(loc).to_be_visible(timeout=timeout_ms)
    return loc


def click_button(page: Page, name: str | re.Pattern, timeout_ms: int = 60_000) -> None:
    button = page.get_by_role("button", name=name).first
    expect(button).to_be_enabled(timeout=timeout_ms)
    button.click()


def assert_no_exception(page: Page) -> None:
    """No Python traceback or exception box is shown anywhere on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback (most recent call last)")).to_have_count(0)


def shot(page: Page, name: str) -> Path:
    """Full-page screenshot under test-artifacts/browser/, after checking for exceptions."""
    assert_no_exception(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
