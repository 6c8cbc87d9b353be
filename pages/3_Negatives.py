"""Negatives: mine hard negatives for the curated pairs, inspect them, flag false negatives."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import pairs
from core.commands import mining_settings
from core.jobs import start_job
from core.mining import (
    MiningSettings,
    flag_false_negative,
    list_minings,
    margin_threshold,
    mined_queries,
    positive_scores,
    query_view,
)
from core.runs import list_runs
from ui.errors import user_errors
from ui.job_panel import job_panel, watch
from ui.settings_form import settings_widgets
from ui.state import require_workspace

st.title("3 Negatives")
st.write(
    "Hard negatives are passages that look relevant to a query but are not its answer. "
    "Training against them teaches the model the fine distinctions of your domain."
)
ws = require_workspace()

n_curated = sum(n for status, n in pairs.status_counts(ws).items() if status in pairs.CURATED)
runs = [r["id"] for r in list_runs(ws, status="succeeded")]
if n_curated == 0:
    st.info(
        "No curated pairs yet: generate and accept pairs on the Pairs page first, then mine "
        "negatives here."
    )
    st.stop()

# The form is MiningSettings' fields (core/mining_settings.py): a new field shows up here, and
# the values go through core/commands.py exactly as `embstudio mine`'s options do.
DEFAULTS = mining_settings(ws)  # the workspace's base model, MiningSettings' defaults
ADVANCED = [s.name for s in MiningSettings.specs() if s.metadata.get("advanced")]
with st.expander("Mining settings", expanded=not list_minings(ws)):
    model = st.selectbox(
        "Model",
        [DEFAULTS.model] + [f"run:{r}" for r in runs],
        key="neg_model",
        help="The workspace's base model, or a fine-tuned run's model to re-mine harder "
        "negatives (ANCE-style).",
    )
    values = settings_widgets(DEFAULTS, "neg", skip=["model", *ADVANCED], columns=3)
    with st.popover("More settings"):
        values |= settings_widgets(DEFAULTS, "neg", names=ADVANCED)
    if st.button("Mine negatives", type="primary", key="neg_start"):
        with user_errors("Could not start mining"):
            settings = mining_settings(ws, {**values, "model": model})
            watch("neg", start_job(ws, "mine", settings.to_dict()))


job_panel(ws, ("mine",), "neg", "Mining failed")

minings = list_minings(ws)
if not minings:
    st.info("No negatives mined yet: choose the settings above and press **Mine negatives**.")
    st.stop()

labels = {
    m["id"]: f"mining {m['id']} · {m['created_at']} · {m['config'].get('model')}" for m in minings
}
mid = st.selectbox("Mining", list(labels), format_func=labels.get, key="neg_mining")
mining = next(m for m in minings if m["id"] == mid)
s = mining["stats"]
cols = st.columns(6)
cols[0].metric("Queries", s.get("queries", 0))
cols[1].metric("Negatives", s.get("negatives", 0))
cols[2].metric("Removed by margin", s.get("removed_by_margin", 0))
mp, mn = s.get("mean_positive_score"), s.get("mean_negative_score")
cols[3].metric("Mean positive", f"{mp:.3f}" if mp is not None else "–")
cols[4].metric("Mean negative", f"{mn:.3f}" if mn is not None else "–")
cols[5].metric(
    f"Queries < {mining['config'].get('negatives')} neg.", s.get("queries_short_of_k", 0)
)
if s.get("index"):
    st.caption(f"Search index: {s['index']}; {s.get('chunks', '?')} chunks.")

mined = mined_queries(ws, mid)
if not mined:
    st.info("This mining found no negatives (try a smaller margin or a larger corpus).")
    st.stop()
needle = st.text_input("Filter queries", key="neg_filter")
options = [r for r in mined if needle.lower() in r["query"].lower()][:500]
if not options:
    st.info("No query matches the filter.")
    st.stop()
pair_id = st.selectbox(
    "Query",
    [r["id"] for r in options],
    format_func=lambda i: next(r["query"] for r in options if r["id"] == i)[:150],
    key="neg_query",
)
view = query_view(ws, pair_id, mid)
pos_scores = positive_scores(ws, mid).get(pair_id, {})
cfg = mining["config"]
min_pos = min(pos_scores.values()) if pos_scores else None
threshold = (
    margin_threshold(min_pos, cfg.get("relative_margin"), cfg.get("absolute_margin"))
    if min_pos is not None
    else None
)

st.markdown(f"**Query:** {view['query']}")
st.markdown("**Positives**")
st.dataframe(
    pd.DataFrame(
        [
            {"chunk": p["id"], "score": pos_scores.get(p["id"]), "text": p["text"][:300]}
            for p in view["positives"]
        ]
    ),
    hide_index=True,
    key="neg_pos_table",
)
st.markdown("**Negatives** (flag a negative that actually answers the query)")
st.dataframe(
    pd.DataFrame(
        [
            {
                "rank": n["rank"],
                "chunk": n["chunk_id"],
                "score": round(n["score"], 4),
                "flag": n["action"] or "",
                "text": n["text"][:300],
            }
            for n in view["negatives"]
        ]
    ),
    hide_index=True,
    key="neg_neg_table",
)

fig = go.Figure()
fig.add_trace(
    go.Scatter(
        x=[n["rank"] for n in view["negatives"]],
        y=[n["score"] for n in view["negatives"]],
        mode="markers",
        name="negatives",
        text=[f"chunk {n['chunk_id']}" for n in view["negatives"]],
    )
)
if pos_scores:
    fig.add_trace(
        go.Scatter(
            x=[0] * len(pos_scores),
            y=list(pos_scores.values()),
            mode="markers",
            marker={"symbol": "star", "size": 12},
            name="positives",
        )
    )
if threshold is not None and threshold != float("inf"):
    fig.add_hline(y=threshold, line_dash="dash", annotation_text="margin")
fig.update_layout(height=300, xaxis_title="rank among all chunks", yaxis_title="cosine")
st.plotly_chart(fig, key="neg_plot")

FLAG_LABELS = {
    "": "no flag",
    "positive": "it answers: make it a positive",
    "exclude": "unsure: exclude it",
}


def _save_flag(key: str, pair_id: int, chunk_id: int) -> None:
    # A callback runs before the rerun, so the tables above already show the new flag.
    try:
        flag_false_negative(ws, pair_id, chunk_id, st.session_state[key] or None)
        st.toast("Saved.")
    except Exception as exc:
        st.session_state.neg_flag_error = str(exc)


if err := st.session_state.pop("neg_flag_error", None):
    st.error(f"Could not save the flag: {err}")
st.markdown("**False-negative flags**")
for n in view["negatives"]:
    key = f"neg_flag_{pair_id}_{n['chunk_id']}"
    st.selectbox(
        f"Rank {n['rank']} · chunk {n['chunk_id']} · {n['score']:.3f}",
        list(FLAG_LABELS),
        index=list(FLAG_LABELS).index(n["action"] or ""),
        format_func=FLAG_LABELS.get,
        key=key,
        on_change=_save_flag,
        args=(key, pair_id, n["chunk_id"]),
    )
