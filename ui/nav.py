"""The pipeline's pages in order, shared by `app.py` (navigation) and Home (next step)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to the repository root, as st.navigation wants it
    title: str
    icon: str

    @property
    def exists(self) -> bool:
        return (REPO / self.path).is_file()


HOME = PageInfo("pages/0_Home.py", "Home", ":material/home:")
DOCUMENTS = PageInfo("pages/1_Documents.py", "1 Documents", ":material/description:")
PAIRS = PageInfo("pages/2_Pairs.py", "2 Pairs", ":material/quiz:")
NEGATIVES = PageInfo("pages/3_Negatives.py", "3 Negatives", ":material/remove_circle:")
TRAIN = PageInfo("pages/4_Train.py", "4 Train", ":material/model_training:")
EVALUATE = PageInfo("pages/5_Evaluate.py", "5 Evaluate", ":material/analytics:")
EXPORT = PageInfo("pages/6_Export.py", "6 Export", ":material/package_2:")
PLAYGROUND = PageInfo("pages/8_Playground.py", "Playground", ":material/compare:")
SETTINGS = PageInfo("pages/7_Settings.py", "Settings", ":material/settings:")

PIPELINE: tuple[PageInfo, ...] = (DOCUMENTS, PAIRS, NEGATIVES, TRAIN, EVALUATE, EXPORT)
ALL_PAGES: tuple[PageInfo, ...] = (HOME, *PIPELINE, PLAYGROUND, SETTINGS)


def link(
    page: PageInfo, label: str | None = None, key: str | None = None, kind: str = "primary"
) -> None:
    """A button that opens `page`; plain text when the page is missing or not navigable.

    A button with `st.switch_page` (rather than `st.page_link`) is used so a page also renders
    when run on its own (AppTest), where the other pages are not registered. `kind`: the
    button's type ("primary", "secondary", "tertiary": a plain link-like title).
    """
    label = label or f"Go to {page.title}"
    if not page.exists:
        st.caption(f"{label} (this step is not available in this version)")
        return
    if st.button(label, key=key or f"link_{page.path}", icon=page.icon, type=kind):
        st.switch_page(page.path)
