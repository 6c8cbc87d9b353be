"""Every page on an empty workspace: no exception, and a sentence saying what to do first.

The pages are those of `ui.nav`, which must match the pages/ folder: a renamed or missing page
fails here (the app would quietly leave it out of its navigation).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from ui import nav

PIPELINE_PAGES = [nav.HOME, *nav.PIPELINE]
# What each page's notice says on an empty workspace (the step to take first).
FIRST_STEP = {
    nav.HOME.path: "This workspace is empty",
    nav.DOCUMENTS.path: "No documents yet",
    nav.PAIRS.path: "No documents yet",
    nav.NEGATIVES.path: "No curated pairs yet",
    nav.TRAIN.path: "No curated training pairs yet",
    nav.EVALUATE.path: "Nothing to evaluate yet",
    nav.EXPORT.path: "No trained model yet",
}


def test_nav_lists_exactly_the_pages_of_the_pages_folder():
    on_disk = {f"pages/{p.name}" for p in (REPO / "pages").glob("*.py")}
    assert {page.path for page in nav.ALL_PAGES} == on_disk


def _run(ws, page: nav.PageInfo) -> AppTest:
    assert page.exists, f"{page.path} ({page.title}) is listed in ui/nav.py but missing"
    at = AppTest.from_file(str(REPO / page.path), default_timeout=120)
    at.session_state["workspace_path"] = str(ws.root)
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "warning", "markdown", "caption") for e in at.get(kind)]
    return " ".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PIPELINE_PAGES, ids=lambda p: p.title)
def test_empty_workspace_says_what_to_do_first(ws, page):
    at = _run(ws, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # The guidance is a notice (info or warning) naming an earlier step or an action.
    notices = [str(e.value) for e in [*at.info, *at.warning]]
    assert any(FIRST_STEP[page.path] in n for n in notices), (page.title, notices)
    assert "Traceback" not in _texts(at)


def test_home_points_to_documents_and_the_demo(ws):
    at = _run(ws, nav.HOME)
    assert any("uploading documents" in i.value for i in at.info)
    actions = [b.label for b in at.button if not (b.key or "").startswith("home_card_")]
    assert actions == ["Upload documents", "Load the demo documents"]


def test_settings_page_on_empty_workspace(ws):
    at = _run(ws, nav.SETTINGS)
    assert not at.exception
    assert any("Detected:" in m.value for m in at.markdown)
    at.radio(key="settings_provider").set_value("openai").run()
    at.text_input(key="settings_base_url").set_value("http://127.0.0.1:8000/v1").run()
    at.button(key="settings_save").click().run()
    assert not at.exception
    assert any("Saved" in s.value for s in at.success)
    saved = (ws.root / "settings.json").read_text()
    assert "http://127.0.0.1:8000/v1" in saved and "openai" in saved


def test_home_loads_the_demo(ws):
    at = _run(ws, nav.HOME)
    at.button(key="home_load_demo").click().run()
    assert not at.exception
    assert ws.counts()["documents"] == 4
    assert any("no questions written yet" in m.value for m in at.markdown)
