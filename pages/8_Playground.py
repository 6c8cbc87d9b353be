"""Playground: one question, two models (base, runs, merges), keyword search and model B fused
with it: their top-k side by side, passage text included."""

import streamlit as st

from core.evaluation.playground import (
    DEFAULT_K,
    model_choices,
    model_spec,
    question_set,
    side_by_side,
)
from core.models import DEFAULT_BASE_MODEL
from core.runs import final_of
from ui.errors import user_errors
from ui.playground import take_request
from ui.state import require_workspace
from ui.text import plain

st.title("Playground")
st.write(
    "Type a question, or pick a held-out one, and see what two models retrieve beside what "
    "you already have: keyword search (BM25) and model B fused with it (hybrid search). Each "
    "column shows its top passages with their scores, where it put the known positive, and "
    "how far every passage moved (▲ ranked higher than by the model it is compared with, ▼ "
    "lower: A against B, the others against B)."
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
# On the workspace's held-out questions model B defaults to the newest split run: a final fit
# (RUN-all) trained on those questions' own passages.
held_out = params.get("dataset", "workspace") == "workspace"
split_runs = [c for c in choices[1:] if not (held_out and final_of(ws, c))]
st.session_state.setdefault("pg_model_a", choices[0])
st.session_state.setdefault(
    "pg_model_b", split_runs[0] if split_runs else choices[min(1, len(choices) - 1)]
)
c1, c2, c3 = st.columns([2, 2, 1])
model_a = c1.selectbox("Model A", choices, key="pg_model_a")
model_b = c2.selectbox(
    "Model B",
    choices,
    key="pg_model_b",
    help="A run or merge; the hybrid column fuses it with keyword search at its recipe.",
)
if held_out and model_b != "base" and final_of(ws, model_b):
    st.caption(
        f"{model_b} is a final fit: it trained on every document, these held-out questions' "
        f"passages too, so its ranks here flatter it. Compare {final_of(ws, model_b)} instead."
    )
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
    example = next(iter(evalset.queries.values()), "a question about your documents")
    query = st.text_input("Your question", key="pg_query", placeholder=f"e.g. {example[:80]}")

if not query.strip():
    st.info("Type a question above (or pick a known one) to see the rankings.")
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

st.markdown(f"**Question:** {plain(result.query)}")
for positive in result.positives[:3]:
    st.markdown(f"**Known positive** `{positive['doc_id']}`: {plain(positive['text'])}")


TITLES = {"a": "Model A", "b": "Model B", "kw": "Keyword search", "hy": "Hybrid"}
columns = st.columns(4)
for col, ranking, side in zip(columns, result.rankings, TITLES, strict=True):
    with col.container(key=f"pg_col_{side}"):
        st.markdown(f"**{TITLES[side]}** · `{ranking.label}`")
        if ranking.positive_ranks:
            st.caption(
                "Known positive at rank "
                + ", ".join("–" if r is None else str(r) for r in ranking.positive_ranks.values())
            )
        for hit in ranking.hits:
            with st.container(border=True, key=f"pg_hit_{side}_{hit.rank}"):
                mark = " ✅" if hit.relevant else ""
                st.markdown(f"**{hit.rank}**{mark} · {hit.change_label} · {hit.score:.3f}")
                st.caption(f"{plain(hit.text)}  \n— {plain(hit.source)}")
