"""The gate in front of every page: a password, or the platform's login (core/access.py)."""

from __future__ import annotations

import os

import streamlit as st

from core.access import AUTH_ENV, configured_password, password_matches
from ui.state import secrets_or_none


def require_login() -> None:
    """Stop the script until the visitor is allowed in; no-op when no login is configured."""
    if os.environ.get(AUTH_ENV) == "oidc":
        # Streamlit's own OpenID Connect login, configured in secrets.toml [auth].
        if not st.user.is_logged_in:
            st.title("Domain Embedding Studio")
            st.button("Log in", key="auth_login", on_click=st.login)
            st.stop()
        return
    expected = configured_password(secrets_or_none())
    if expected is None or st.session_state.get("auth_ok"):
        return
    st.title("Domain Embedding Studio")
    with st.form("auth_form"):
        given = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Enter")
    if submitted and password_matches(given, expected):
        st.session_state.auth_ok = True
        st.session_state.pop("auth_password", None)
        st.rerun()
    if submitted:
        st.error("Wrong password.")
    st.stop()
