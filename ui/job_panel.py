"""A live panel of a page's background jobs: progress bars, Cancel buttons, and a rerun of the
whole page when the job the page started has ended (so its results are drawn at once)."""

from __future__ import annotations

import streamlit as st

from core.jobs import cancel_job, list_jobs
from core.store import Workspace


def watch(prefix: str, job_id: str) -> None:
    """Remember that this page started `job_id` (the panel reruns the page when it ends)."""
    st.session_state[f"{prefix}_watch"] = job_id


def job_panel(ws: Workspace, kinds: tuple[str, ...], prefix: str, failed_text: str) -> None:
    """Draw the active jobs of `kinds`, refreshed every 2 s; widget and state keys start with
    `prefix`. A watched job that failed is reported once, as `failed_text: first line`."""

    @st.fragment(run_every=2.0)
    def panel() -> None:
        active = [j for j in list_jobs(ws, active_only=True) if j["kind"] in kinds]
        for job in active:
            c1, c2 = st.columns([5, 1])
            c1.progress(
                float(job["progress"]), text=f"{job['kind']}: {job['message'] or 'starting'}"
            )
            if c2.button("Cancel", key=f"{prefix}_cancel_{job['id']}"):
                cancel_job(ws, job["id"])
        watched = st.session_state.get(f"{prefix}_watch")
        if watched and not any(j["id"] == watched for j in active):
            st.session_state[f"{prefix}_watch"] = None
            done = [j for j in list_jobs(ws) if j["id"] == watched]
            if done and done[0]["status"] == "failed":
                st.session_state[f"{prefix}_failed"] = done[0]["error"] or "unknown error"
            st.rerun(scope="app")  # the finished job's results are drawn by the full page

    panel()
    if failed := st.session_state.pop(f"{prefix}_failed", None):
        st.error(f"{failed_text}: {str(failed).splitlines()[0]}")
