"""Small Playwright helpers for Streamlit pages: navigate, wait for text, screenshot, no errors."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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


def wait_settled(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until the script run has ended: Streamlit draws a rerun's elements one by one, so a
    caption may be new while a widget below it is still the last run's."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout_ms)


def click_button(
    page: Page, name: str | re.Pattern, timeout_ms: int = 60_000, exact: bool = False
) -> None:
    button = page.get_by_role("button", name=name, exact=exact).first
    expect(button).to_be_enabled(timeout=timeout_ms)
    button.click()


def set_number(page: Page, label: str, value: float) -> None:
    """Type into a number input and commit it (Streamlit reruns on Enter)."""
    box = page.get_by_role("spinbutton", name=label, exact=True).first
    box.fill(str(value))
    box.press("Enter")
    # Streamlit formats the value back ("1" → "1.00" for a float input).
    whole = f"{value:g}"
    expect(box).to_have_value(re.compile(rf"^{re.escape(whole)}(\.0*)?$"))


def set_text(page: Page, label: str, value: str) -> None:
    """Type into a text input and commit it (Streamlit reruns on Enter)."""
    box = page.get_by_role("textbox", name=label, exact=True).first
    box.fill(value)
    box.press("Enter")
    expect(box).to_have_value(value)


def set_multiselect(page: Page, label: str, values: list[str]) -> None:
    """Replace a multiselect's choices with `values` (clear all, then pick each)."""
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label).first
    clear = box.get_by_role("button", name="Clear all")
    if clear.count():
        clear.first.click()
        expect(clear).to_have_count(0)
    for value in values:
        _pick_option(page, box, value)
    page.keyboard.press("Escape")
    for value in values:
        expect(box.get_by_text(value, exact=True)).to_be_visible()


def _pick_option(page: Page, box, value: str, attempts: int = 5) -> None:
    """Open the dropdown and click `value`. A rerun triggered by the previous widget change can
    re-render the multiselect and close its dropdown under the cursor: reopen and try again."""
    option = page.get_by_role("option", name=value, exact=True)
    for attempt in range(attempts):
        box.get_by_role("combobox").click()
        try:
            expect(option).to_be_visible(timeout=10_000)
            option.click(timeout=10_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")


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
