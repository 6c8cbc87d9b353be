"""Home's one-click pipeline (core/auto.py): start it, follow it stage by stage, cancel or
resume it, and its headline result with the way to the Evaluate page."""

from __future__ import annotations

import streamlit as st

from core.auto import STAGES, latest_auto_job, next_stage, start_auto
from core.jobs import ACTIVE, resume_job
from core.store import Workspace
from ui import nav
from ui.errors import user_errors
from ui.job_panel import job_panel, watch

PREFIX = "home_auto"
WHAT = (
    "Writes inverse-cloze queries (no LLM needed), accepts them all, mines hard negatives, "
    "trains with the default settings and the final fit, then compares base and tuned on the "
    "held-out documents. The step pages stay for curating each step."
)


def pipeline_section(ws: Workspace) -> bool:
    """The section (the workspace has documents); True while a pipeline runs."""
    st.subheader("The whole pipeline in one click")
    job = latest_auto_job(ws)
    if job is not None and job["status"] in ACTIVE:
        # Also a job started elsewhere (`make run`, the CLI): the page redraws when it ends.
        if not st.session_state.get(f"{PREFIX}_watch"):
            watch(PREFIX, job["id"])
        st.caption(WHAT)
        job_panel(ws, ("auto",), PREFIX, "The pipeline stopped")
        return True
    if job is not None and job["status"] == "succeeded":
        _result(job["result"] or {})
    elif job is not None:
        _stopped(ws, job)
    st.caption(WHAT)
    if st.button(
        "Run the whole pipeline with defaults",
        key=f"{PREFIX}_start",
        icon=":material/play_circle:",
        type="primary" if job is None else "secondary",
    ):
        with user_errors("Could not start the pipeline"):
            watch(PREFIX, start_auto(ws))
            st.rerun()
    job_panel(ws, ("auto",), PREFIX, "The pipeline stopped")
    return False


def _stopped(ws: Workspace, job: dict) -> None:
    stage = next_stage(ws, job)
    where = f"stage {STAGES.index(stage) + 1}/{len(STAGES)} {stage}" if stage else "its end"
    reason = (job["error"] or job["status"]).splitlines()[0]
    st.warning(f"The last pipeline run was {job['status']} at {where}: {reason}")
    if st.button(f"Resume at {where}", key=f"{PREFIX}_resume", icon=":material/replay:"):
        with user_errors("Could not resume the pipeline"):
            watch(PREFIX, resume_job(ws, job["id"]))
            st.rerun()


def _result(result: dict) -> None:
    metrics = result.get("metrics") or {}
    base = metrics.get("base")
    tuned = metrics.get(result.get("run_id") or "")
    if not base or not tuned:
        return
    cmp = result.get("comparison") or {}
    st.success(
        f"Pipeline finished in {result.get('seconds', 0):.0f} s: base vs tuned on "
        f"the held-out documents. Ship the final fit {result.get('final_run_id')}."
    )
    c1, c2, c3 = st.columns(3)
    for col, key in ((c1, "NDCG@10"), (c2, "Recall@10")):
        col.metric(
            f"{key} tuned (base {base[key]:.3f})",
            f"{tuned[key]:.3f}",
            f"{tuned[key] - base[key]:+.3f}",
        )
    c3.metric("Queries won / lost", f"{cmp.get('wins', 0)} / {cmp.get('losses', 0)}")
    nav.link(nav.EVALUATE, "See base vs tuned on the Evaluate page", key=f"{PREFIX}_evaluate")
