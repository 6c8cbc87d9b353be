"""Playground: one question, two models (base, runs, merges), their top-k side by side."""

import pandas as pd
import streamlit as st

from core.evaluation.playground import (
    DEFAULT_K,
    hit_rows,
    model_choices,
    model_spec,
    question_set,
    side_by_side,
)
from core.models import DEFAULT_BASE_MODEL
from ui.errors import user_errors
from ui.playground import take_request
from ui.state import require_workspace

st.title("Playground")
st.write(
    "Type a question, or pick a held-out one, and see what two models retrieve: each one's "
    "top passages with their scores, where each put the known positive, and how far every "
    "passage moved (▲ ranked higher than by the other model, ▼ lower)."
)
ws = require_workspace()

choices = model_choices(ws)
if request := take_request():
    # Opened from a regression on the Evaluate page: its set, its question, its two models.
    st.session_state["pg_params"] = request["params"]
    st.session_state["pg_mode"] = "pick"
    st.session_state["pg_query_id"] = request["query_id"]
    for key, name in zip(("pg_model_a", "pg_model_b"), request["models"], strict=True):
        if name in choices:
            st.session_state[key] = name
params = st.session_state.get("pg_params") or {"dataset": "workspace", "split": "test"}

evalset = None
with user_errors("Could not read the question set", stop=True):
    evalset = question_set(ws, params)
st.caption(
    f"Searching {evalset.name}: {len(evalset.corpus)} passages, {len(evalset.queries)} known "
    "questions" + (" · each known question searches its own group" if evalset.doc_groups else "")
)
if st.session_state.get("pg_params") and st.button("Back to the workspace set", key="pg_reset"):
    st.session_state["pg_params"] = None
    st.rerun()

# Defaults through the session state: a request from the Evaluate page may have set them.
st.session_state.setdefault("pg_model_a", choices[0])
st.session_state.setdefault("pg_model_b", choices[min(1, len(choices) - 1)])
c1, c2, c3 = st.columns([2, 2, 1])
model_a = c1.selectbox("Model A", choices, key="pg_model_a")
model_b = c2.selectbox("Model B", choices, key="pg_model_b", help="A run or merge.")
k = int(c3.number_input("Top k", 1, 100, DEFAULT_K, key="pg_k"))
modes = ["type", "pick"] if evalset.queries else ["type"]
mode = st.radio(
    "Question",
    modes,
    format_func={"type": "Type a question", "pick": "Pick a known question"}.get,
    horizontal=True,
    key="pg_mode",
)
query_id = None
if mode == "pick":
    query_id = st.selectbox(
        "Known question",
        list(evalset.queries),
        format_func=lambda q: f"{q} · {evalset.queries[q][:100]}",
        key="pg_query_id",
    )
    query = evalset.queries[query_id]
else:
    query = st.text_input("Your question", key="pg_query", placeholder="When is the midterm?")

if not query.strip():
    st.info("Type a question above (or pick a known one) to see both rankings.")
    st.stop()
result = None
with user_errors("Could not rank the passages"), st.spinner("Embedding (once per model)…"):
    base_model = params.get("base_model") or DEFAULT_BASE_MODEL
    result = side_by_side(
        ws,
        evalset,
        model_spec(ws, model_a, base_model),
        model_spec(ws, model_b, base_model),
        query,
        query_id,
        k,
    )
if result is None:
    st.stop()

st.markdown(f"**Question:** {result.query}")
for positive in result.positives[:3]:
    st.markdown(f"**Known positive** `{positive['doc_id']}`: {positive['text']}")


def _colour(value: str) -> str:
    if value.startswith("▲"):
        return "background-color: #d4f4dd"
    if value.startswith("▼"):
        return "background-color: #fbd9d3"
    return ""


left, right = st.columns(2)
for col, ranking, side in ((left, result.a, "a"), (right, result.b, "b")):
    col.markdown(f"**{ranking.label}**")
    if ranking.positive_ranks:
        col.caption(
            "Known positive at rank "
            + ", ".join("–" if r is None else str(r) for r in ranking.positive_ranks.values())
        )
    table = pd.DataFrame(hit_rows(ranking))
    col.dataframe(
        table.style.map(_colour, subset=["change"]).format({"score": "{:.3f}"}),
        hide_index=True,
        key=f"pg_hits_{side}",
    )
