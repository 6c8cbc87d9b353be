"""Workspace selection, the sidebar every page shows, and small page conventions."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from core.access import AccessError, check_workspace_path
from core.jobs import list_jobs
from core.store import Workspace, WorkspaceError
from ui.job_panel import REFRESH_S, job_row

DEFAULT_WORKSPACE = "workspaces/demo"


def _workspace_from_argv() -> str | None:
    # `streamlit run app.py -- --workspace PATH` passes PATH after the script name.
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--workspace" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def default_workspace_path() -> str:
    return _workspace_from_argv() or os.environ.get("EMBSTUDIO_WORKSPACE") or DEFAULT_WORKSPACE


def open_or_create(path: str) -> Workspace:
    """The workspace at `path`, created when new; only under the app's workspaces root."""
    check_workspace_path(path, default_workspace_path())
    if Path(path, "studio.db").is_file():
        return Workspace.open(path)
    return Workspace.create(path)


def current_workspace() -> Workspace | None:
    """The workspace this browser session works in (opened or created on first use)."""
    if "workspace_path" not in st.session_state:
        st.session_state.workspace_path = default_workspace_path()
    try:
        return open_or_create(st.session_state.workspace_path)
    except (WorkspaceError, AccessError) as exc:
        st.session_state.workspace_error = str(exc)
        return None


def secrets_or_none():
    """`st.secrets` when a secrets file exists, else None (reading it would raise)."""
    try:
        return st.secrets if len(st.secrets) >= 0 else None
    except Exception:  # no secrets.toml anywhere: Streamlit raises FileNotFoundError
        return None


def require_workspace() -> Workspace:
    """The current workspace, or stop the page with a message saying how to pick one."""
    ws = current_workspace()
    if ws is None:
        st.error(
            f"No workspace: {st.session_state.get('workspace_error', 'pick one')}. "
            "Choose a folder in the sidebar."
        )
        st.stop()
    return ws


def sidebar() -> None:
    """Workspace picker, device and running jobs; shown on every page."""
    with st.sidebar:
        st.subheader("Workspace")
        if "workspace_path" not in st.session_state:
            st.session_state.workspace_path = default_workspace_path()
        new_path = st.text_input(
            "Folder",
            value=st.session_state.workspace_path,
            key="sidebar_workspace_input",
            help="A workspace is a folder holding studio.db, your files and runs. "
            "A new folder is created.",
        )
        if st.button("Open / create", key="sidebar_workspace_open"):
            try:
                open_or_create(new_path)
                st.session_state.workspace_path = new_path
                st.session_state.pop("workspace_error", None)
                st.rerun()
            except (WorkspaceError, AccessError) as exc:
                st.error(str(exc))
        st.caption(f"Device: **{device_label()}**")
        ws = current_workspace()
        if ws is not None:
            jobs_panel(ws)


@st.cache_resource
def device_label() -> str:
    """What training and encoding run on here ("GPU (name)" or "CPU (n cores)")."""
    from core.settings import device_info

    info = device_info()
    if info["gpus"]:
        return f"GPU ({info['gpus'][0]['name']})"
    if info["detected"] == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({info['cpu_cores']} cores)"


@st.fragment(run_every=REFRESH_S)
def jobs_panel(ws: Workspace) -> None:
    active = list_jobs(ws, active_only=True)
    if not active:
        return
    st.subheader("Running jobs")
    for job in active:
        job_row(ws, job, "sidebar", cancel=False)
