"""Home's one-click pipeline (core/auto.py): start it, follow it stage by stage, cancel or
resume it, and its headline result with the way to the Evaluate page."""

from __future__ import annotations

import streamlit as st

from core.auto import STAGES, latest_auto_job, next_stage, start_auto
from core.jobs import ACTIVE, resume_job
from core.overview import result_rows, result_words
from core.store import Workspace
from ui import nav
from ui.errors import user_errors
from ui.job_panel import job_panel, watch

PREFIX = "home_auto"
WHAT = (
    "Writes inverse-cloze queries (no LLM needed), accepts them all, mines hard negatives, "
    "trains with the default settings and the final fit, then compares the base model, keyword "
    "search, the tuned model and their hybrids on the workspace's real questions (the held-out "
    "documents when it has none), and computes the geometry. The step pages stay for curating "
    "each step."
)
GLOSSARY = (
    "nDCG@10: 1.0 when every question's answer passage is ranked first, lower the further "
    "down it sits in the top 10. Recall@3: the share of questions whose answer is in the top 3."
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
    seconds = f"Pipeline finished in {result.get('seconds', 0):.0f} s"
    words = result_words(result)
    if not words:  # a result of an older version: its figures are on the Evaluate page
        st.info(f"{seconds}.")
        nav.link(nav.EVALUATE, "See the result on the Evaluate page", key=f"{PREFIX}_evaluate")
        return
    head = result["headline"]
    show = st.success if head["tuned_gains"] else (st.warning if head["at_ceiling"] else st.info)
    show(" ".join(words))
    st.dataframe(
        result_rows(result),
        hide_index=True,
        key=f"{PREFIX}_table",
        column_config={
            "nDCG@10": st.column_config.NumberColumn(format="%.3f"),
            "Recall@3": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption(
        f"{seconds}. {GLOSSARY} The tuned model is the final fit "
        f"{result.get('final_run_id') or result.get('run_id')} (trained on every document)."
    )
    nav.link(nav.EVALUATE, "See every figure on the Evaluate page", key=f"{PREFIX}_evaluate")
