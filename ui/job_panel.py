"""The one job widget every page uses: a job's progress bar, its Cancel and Resume buttons, its
error; and a live panel of a page's background jobs that reruns the whole page when a job it
watched has ended (so that job's results are drawn at once)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.jobs import cancel_job, list_jobs, resume_job
from core.store import Workspace

ACTIVE = ("queued", "running")
REFRESH_S = 2.0  # seconds between redraws of a live panel


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def job_row(
    ws: Workspace,
    job: dict[str, Any],
    key: str,
    *,
    label: str | None = None,
    cancel: bool = True,
    resume: str | None = None,
) -> None:
    """One job: a progress bar while it is queued or running (with Cancel unless `cancel` is
    False), its error's first line when it failed, its status line otherwise. `resume`: the
    label of a button that resumes a failed or cancelled job (none when None). `label` names
    the job (default its kind); widget keys start with `key`."""
    name = label or job["kind"]
    status = job["status"]
    if status in ACTIVE:
        bar = min(max(float(job["progress"] or 0.0), 0.0), 1.0)
        text = f"{name} · {status}" + (f": {job['message']}" if job["message"] else "")
        if not cancel:
            st.progress(bar, text=text)
            return
        c1, c2 = st.columns([5, 1])
        c1.progress(bar, text=text)
        if c2.button("Cancel", key=f"{key}_cancel_{job['id']}"):
            cancel_job(ws, job["id"])
            st.toast("Cancelling: the job stops at its next step (training saves a checkpoint).")
        return
    if status == "failed":
        st.error(f"{name} failed: {first_line(job['error']) or 'unknown error'}")
    else:
        st.caption(f"{status}: {name}" + (f" · {job['message']}" if job["message"] else ""))
    resumable = resume and status in ("failed", "cancelled")
    if resumable and st.button(resume, key=f"{key}_resume_{job['id']}"):
        resume_job(ws, job["id"])
        st.rerun()


def watch(prefix: str, job_id: str) -> None:
    """Remember that this page started `job_id` (the panel reruns the page when it ends)."""
    key = f"{prefix}_watch"
    watched = list(st.session_state.get(key) or [])
    if job_id not in watched:
        st.session_state[key] = [*watched, job_id]


def job_panel(
    ws: Workspace, kinds: tuple[str, ...], prefix: str, failed_text: str | None = None
) -> None:
    """The active jobs of `kinds` as `job_row`s, redrawn every REFRESH_S seconds; widget and
    state keys start with `prefix`. Every job the page `watch`ed or the panel saw active is
    watched: when any of them ends, the whole page reruns (so its results are drawn at once),
    and each one that failed is reported once, as `failed_text: first line` (not at all when
    `failed_text` is None, for a page that shows its last job itself)."""
    key = f"{prefix}_watch"

    @st.fragment(run_every=REFRESH_S)
    def panel() -> None:
        active = [j for j in list_jobs(ws, active_only=True) if j["kind"] in kinds]
        for job in active:
            job_row(ws, job, prefix)
        active_ids = [j["id"] for j in active]
        watched = list(st.session_state.get(key) or [])
        ended = [j for j in watched if j not in active_ids]
        # One watch per job: a second job started (or seen) must not hide the first one's end.
        st.session_state[key] = [j for j in watched if j in active_ids] + [
            j for j in active_ids if j not in watched
        ]
        if ended:
            if failed_text is not None:
                errors = [
                    j["error"] or "unknown error"
                    for j in list_jobs(ws)
                    if j["id"] in ended and j["status"] == "failed"
                ]
                if errors:
                    st.session_state[f"{prefix}_failed"] = errors
            st.rerun(scope="app")  # the finished jobs' results are drawn by the full page

    panel()
    for failed in st.session_state.pop(f"{prefix}_failed", None) or []:
        st.error(f"{failed_text}: {first_line(str(failed))}")
