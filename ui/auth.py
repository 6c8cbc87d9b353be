"""The gate in front of every page: a password, or the platform's login (core/access.py)."""

from __future__ import annotations

import math
import os
import secrets

import streamlit as st

from core import access
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
    if submitted:
        _attempt(given, expected)
    st.stop()


def _attempt(given: str, expected: str) -> None:
    """One password attempt, slowed down after repeated failures (core/access.py)."""
    throttle = access.LOGIN_THROTTLE
    keys = _client_keys()
    if wait := throttle.wait_s(*keys):
        st.error(
            f"Too many wrong passwords: the next attempt is heard in {math.ceil(wait)} s "
            "(it was not checked)."
        )
        return
    if password_matches(given, expected):
        throttle.succeeded(*keys)
        st.session_state.auth_ok = True
        st.session_state.pop("auth_password", None)
        st.rerun()
    wait = throttle.failed(*keys)
    st.error("Wrong password." + (f" Try again in {math.ceil(wait)} s." if wait else ""))


def _client_keys() -> list[str]:
    """This session's key and its client's addresses (core.access.client_keys)."""
    session = st.session_state.setdefault("auth_session_key", secrets.token_hex(16))
    try:
        headers, peer = dict(st.context.headers), st.context.ip_address
    except Exception:  # no request context (bare runs, tests)
        headers, peer = {}, None
    return access.client_keys(session, headers, peer)
