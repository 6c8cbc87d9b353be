"""Opening a question in the Playground from another page (the Evaluate page's regressions)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.nav import PLAYGROUND

OPEN_REQUEST = "pg_request"  # session key: what the Playground opens on its next run


def open_in_playground(params: dict[str, Any], query_id: str, models: list[str]) -> None:
    """Switch to the Playground showing `query_id` of the set `params` (as for
    `runner.load_evalset`) ranked by the two `models` ("base" or run ids)."""
    st.session_state[OPEN_REQUEST] = {"params": params, "query_id": query_id, "models": models}
    st.switch_page(PLAYGROUND.path)


def take_request() -> dict[str, Any] | None:
    """The pending request, once (None when the page was opened directly)."""
    return st.session_state.pop(OPEN_REQUEST, None)
