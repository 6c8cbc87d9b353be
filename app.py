"""Domain Embedding Studio: `streamlit run app.py -- --workspace PATH`."""

from __future__ import annotations

import os

import streamlit as st

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

st.set_page_config(page_title="Domain Embedding Studio", page_icon="🧭", layout="wide")

from ui import nav  # noqa: E402
from ui.auth import require_login  # noqa: E402
from ui.state import sidebar  # noqa: E402

require_login()  # before any page, the sidebar included

# Pipeline order; a step appears once its page file exists.
PAGES = [
    st.Page(p.path, title=p.title, icon=p.icon, default=(p is nav.HOME))
    for p in nav.ALL_PAGES
    if p.exists
]
page = st.navigation(PAGES)
sidebar()
page.run()
