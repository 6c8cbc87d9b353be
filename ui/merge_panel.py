"""The Evaluate page's merge section: a mix slider, the merge-curve job, the curve with the
slider's point marked, and a button that makes the mix at the slider's alpha."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.access import check_data_path
from core.evaluation.merge_curve import (
    ALPHAS,
    curve_rows,
    default_general_dir,
    list_curves,
    point_at,
)
from core.evaluation.runner import refuse_final_fits
from core.jobs import start_job
from core.store import Workspace
from core.training.merge import merge_run, merged_run_id
from ui.errors import user_errors
from ui.job_panel import watch
from ui.state import default_workspace_path


def mergeable_runs(runs: list[dict[str, Any]]) -> list[str]:
    """Runs that can be mixed with their base: trained runs, not merges, not MoE."""
    out = []
    for run in runs:
        try:
            config = json.loads(run.get("config") or "{}")
        except ValueError:
            continue
        if not config.get("merge_of") and not config.get("moe"):
            out.append(run["id"])
    return out


def _chart(rows: list[dict[str, Any]], marked: dict[str, Any] | None, names: tuple[str, str]):
    frame = pd.DataFrame(rows)
    x = "general" if frame["general"].notna().all() else "alpha"  # no general set: over α
    fig = go.Figure(
        go.Scatter(
            x=frame[x],
            y=frame["domain"],
            mode="lines+markers+text",
            text=[f"α={a:g}" for a in frame["alpha"]],
            textposition="top center",
            name="mixes",
        )
    )
    if marked is not None:
        fig.add_trace(
            go.Scatter(
                x=[marked[x]],
                y=[marked["domain"]],
                mode="markers",
                marker={"size": 20, "symbol": "star", "color": "#d62728"},
                name=f"slider: α={marked['alpha']:g}",
            )
        )
    fig.update_layout(
        title="Domain vs general nDCG@10 over the mix α"
        if x == "general"
        else "Domain nDCG@10 over the mix α (no general set)",
        xaxis_title=f"general: {names[1]}" if x == "general" else "α",
        yaxis_title=f"domain: {names[0]}",
    )
    return fig


def merge_panel(ws: Workspace, ready: list[dict[str, Any]], params: dict[str, Any]) -> None:
    """Draw the section. `ready`: runs with a model folder; `params`: the evaluation set chosen
    above, used as the curve's domain set."""
    st.subheader("Merge with the base model")
    st.write(
        "Tuning can cost retrieval outside your domain. A mix (1 − α)·base + α·tuned keeps "
        "part of the gain and gives back part of the cost (WiSE-FT, LM-Cocktail). The curve "
        "measures α = " + ", ".join(f"{a:g}" for a in ALPHAS) + " on the evaluation set chosen "
        "above (domain) and on a general set; a mix is a run of its own (RUN-mixNN) that "
        "evaluates, exports and serves like any run."
    )
    runs = mergeable_runs(ready)
    if not runs:
        st.caption("No finished training run to mix yet.")
        return
    c1, c2 = st.columns(2)
    run_id = c1.selectbox("Run to mix", runs, key="ev_merge_run")
    general_dir = c2.text_input(
        "General set (BEIR folder)",
        default_general_dir(ws),
        key="ev_merge_general",
        help="Empty: SciFact, downloaded once into the cache when the server is reachable; "
        "without it the curve measures the domain alone.",
    )
    alpha = st.select_slider(
        "Mix α (weight of the tuned model)",
        options=list(ALPHAS),
        value=0.5,
        format_func=lambda a: f"{a:g}",
        key="ev_merge_alpha",
    )
    b1, b2 = st.columns(2)
    if b1.button("Compute the merge curve", key="ev_merge_curve_start"):
        if params["dataset"] == "general":
            st.error("Pick the workspace held-out pairs or a BEIR folder as the domain set.")
        else:
            with user_errors("Could not start the merge curve"):
                if general_dir.strip():
                    check_data_path(general_dir, default_workspace_path())
                if params["dataset"] == "beir":
                    check_data_path(params["beir_dir"] or "", default_workspace_path())
                else:
                    refuse_final_fits(ws, [run_id])
                domain = {k: params[k] for k in ("dataset", "beir_dir", "split", "group")}
                job = {"run_id": run_id, "domain": domain, "general_dir": general_dir}
                watch("ev", start_job(ws, "merge_curve", job))
    if b2.button(f"Make the mix at α = {alpha:g}", key="ev_merge_make"):
        if alpha in (0, 1):
            st.info("α = 0 is the base model and α = 1 the run itself: nothing to make.")
        else:
            with user_errors("Could not make the mix"), st.spinner("Mixing the weights…"):
                made = merge_run(ws, run_id, alpha)
                st.success(
                    f"Run {made['run_id']} is ready: pick it as model B above, in the "
                    "Playground, or on the Export page."
                )

    curves = list_curves(ws, run_id)
    if not curves:
        st.info("No merge curve for this run yet: press Compute the merge curve.")
        return
    curve = curves[0]
    rows = curve_rows(curve)
    marked = point_at(curve, alpha)
    names = (curve["domain_set"]["name"], (curve["general_set"] or {}).get("name", "none"))
    st.plotly_chart(_chart(rows, marked, names), key="ev_merge_chart")
    if marked is not None:
        model = merged_run_id(run_id, alpha) if 0 < alpha < 1 else marked["model"]
        general = "" if marked["general"] is None else f", general {marked['general']:.3f}"
        st.markdown(
            f"**Marked: α = {alpha:g}** ({model}): domain nDCG@10 {marked['domain']:.3f}{general}"
        )
    st.dataframe(
        pd.DataFrame(rows).style.format(
            {"alpha": "{:g}", "domain": "{:.4f}", "general": "{:.4f}"}, na_rep=""
        ),
        hide_index=True,
        key="ev_merge_table",
    )
    st.caption(f"Curve of {curve['created_at']}: {names[0]} · {names[1]}")
    if curve.get("general_note"):
        st.info(f"Measured on the domain alone: {curve['general_note']}")
