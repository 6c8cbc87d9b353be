"""Domain Embedding Studio: `streamlit run app.py -- --workspace PATH`."""

from __future__ import annotations

import os

import streamlit as st

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

st.set_page_config(page_title="Domain Embedding Studio", page_icon="🧭", layout="wide")

from ui.state import sidebar  # noqa: E402

PAGES = [
    st.Page("pages/0_Home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/1_Documents.py", title="1 Documents", icon="📄"),
]
# Later pipeline steps appear as their pages are added.
for path, title, icon in [
    ("pages/2_Pairs.py", "2 Pairs", "❓"),
    ("pages/3_Negatives.py", "3 Negatives", "➖"),
    ("pages/4_Train.py", "4 Train", "🏋️"),
    ("pages/5_Evaluate.py", "5 Evaluate", "📊"),
    ("pages/6_Export.py", "6 Export", "📦"),
    ("pages/7_Settings.py", "Settings", "⚙️"),
]:
    if os.path.exists(os.path.join(os.path.dirname(__file__), path)):
        PAGES.append(st.Page(path, title=title, icon=icon))

page = st.navigation(PAGES)
sidebar()
page.run()
