"""Evaluate: base vs tuned retrieval metrics, significance, per-query analysis and geometry."""

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from core.access import check_data_path
from core.auto import latest_auto_job
from core.evaluation.headline import headline
from core.evaluation.report import (
    SUMMARY_METRICS,
    list_evaluations,
    load_report,
    metric_long_rows,
    retriever_rows,
)
from core.evaluation.runner import refuse_final_fits
from core.jobs import ACTIVE, list_jobs, start_job
from core.retrieval.windows import PASSAGE_MODE_LABELS, PASSAGE_MODES
from core.runs import SUCCEEDED, final_of, list_runs
from core.settings import defaults_for
from core.splits import split_mode
from ui.errors import user_errors
from ui.job_panel import job_panel, watch
from ui.merge_panel import merge_panel
from ui.playground import open_in_playground
from ui.state import default_workspace_path, require_workspace
from ui.text import plain

st.title("5 Evaluate")
st.write(
    "Check whether the tuned model really retrieves the right passage more often than what you "
    "already have: the base model, keyword search (BM25) and the two fused (hybrid search). "
    "BEIR metrics on held-out questions, a significance test, the queries it won and lost, and "
    "how the embedding space changed. A general set (SciFact) shows what tuning cost outside "
    "your domain."
)
ws = require_workspace()

n_chunks = ws.counts()["chunks"]

runs = list_runs(ws)
# Only runs whose model folder exists can be evaluated.
ready = [r for r in runs if r["status"] == SUCCEEDED]
evaluations = list_evaluations(ws)
if n_chunks == 0 and not evaluations:
    st.info(
        "Nothing to evaluate yet: upload documents on the Documents page, write and accept "
        "questions on the Pairs page and train a model; or evaluate the base model on a BEIR "
        "folder below once the workspace has documents."
    )
    st.stop()

# ---------------------------------------------------------------- start an evaluation / geometry
st.subheader("Run")
if runs:
    st.dataframe(
        pd.DataFrame(runs)[
            ["id", "status", "loss", "base_model", "model_path", "created_at"]
        ].rename(columns={"loss": "objective"}),
        hide_index=True,
        key="ev_runs_table",
    )
else:
    st.caption("No training runs yet: only the base model can be evaluated.")
choices = ["base", *[r["id"] for r in ready]]
# A final fit trained on the held-out documents too: the newest split run is offered first.
final_fits = {r["id"] for r in ready if final_of(ws, r["id"])}
c1, c2 = st.columns(2)
model_a = c1.selectbox("Model A (reference)", choices, index=0, key="ev_model_a")
b_choices = ["(none)", *[c for c in choices if c != model_a]]
first_split_run = next(
    (i for i, c in enumerate(b_choices) if i and c not in final_fits), min(1, len(b_choices) - 1)
)
model_b = c2.selectbox(
    "Model B (candidate)",
    b_choices,
    index=first_split_run,
    key="ev_model_b",
    format_func=lambda c: f"{c} (final fit: evaluate on a BEIR set)" if c in final_fits else c,
    help="Compared with A per query: wins, losses and a paired significance test. A final "
    "fit (RUN-all) was trained on every document, the held-out ones too.",
)
base_model = st.text_input(
    "Base model",
    defaults_for(ws).base_model,
    key="ev_base_model",
    help="A model name or folder (the workspace's base model from Settings by default).",
)
dataset = st.radio(
    "Evaluation set",
    ["workspace", "general", "beir"],
    format_func={
        "workspace": "Workspace held-out pairs",
        "general": "General set (SciFact)",
        "beir": "BEIR folder",
    }.get,
    horizontal=True,
    key="ev_dataset",
)
if dataset == "workspace":
    held = split_mode(ws)
    st.caption(
        {
            "documents": f"Held out by document: {held['test_documents']} test document(s), "
            f"{held['test_chunks']} of {held['chunks']} chunks.",
            "chunk windows": f"Held out by chunk window: {held['test_chunks']} of "
            f"{held['chunks']} chunks are test, as the workspace has too few documents to "
            "hold out whole ones.",
            "none": "Nothing is held out yet: write pairs (splits are assigned then), or "
            "import labelled questions as the test split.",
        }[str(held["mode"])]
    )
c1, c2, c3 = st.columns(3)
beir_dir = ""
if dataset == "beir":
    beir_dir = st.text_input("BEIR folder (corpus.jsonl, queries.jsonl, qrels/)", key="ev_beir_dir")
split = c1.text_input("Split", "test", key="ev_split", help="pairs split or qrels file name")
group = c2.text_input(
    "Group by (optional)",
    "",
    key="ev_group",
    help="Restrict each query's candidates to its own group: 'document' for workspace pairs, "
    "or a corpus field of a BEIR folder (e.g. a course id).",
)
top_k = c3.number_input("Candidates per query", 10, 1000, 100, 10, key="ev_top_k")
passages = st.radio(
    "Long passages",
    list(PASSAGE_MODES),
    format_func=PASSAGE_MODE_LABELS.get,
    horizontal=True,
    key="ev_passages",
    help="A passage longer than the model reads (256 word pieces for all-MiniLM-L6-v2) is "
    "scored by its best window, so the model sees what keyword search sees; or cut, as "
    "published figures were measured.",
)
models = [model_a] + ([model_b] if model_b != "(none)" else [])
params = {
    "dataset": dataset,
    "beir_dir": beir_dir or None,
    "split": split.strip() or "test",
    "group": group.strip() or None,
    "base_model": base_model.strip() or defaults_for(ws).base_model,
    "models": models,
    "top_k": int(top_k),
    "passages": passages,
}
b1, b2, b3 = st.columns(3)
projection = b3.radio(
    "Projection",
    ["umap", "pca"],
    horizontal=True,
    key="ev_projection",
    help="UMAP shows neighbourhoods (slower); PCA is a fast linear view.",
)
if b1.button("Evaluate", type="primary", key="ev_start"):
    if dataset == "beir" and not beir_dir:
        st.error("Give the BEIR folder to evaluate on.")
    else:
        with user_errors("Could not start the evaluation"):
            if dataset == "beir":
                check_data_path(beir_dir, default_workspace_path())
            if dataset == "workspace":
                refuse_final_fits(ws, models)
            watch("ev", start_job(ws, "evaluate", params))
if b2.button("Compute geometry", key="ev_geometry_start", help="Anisotropy, histograms, UMAP."):
    with user_errors("Could not start the geometry job"):
        geometry = {"models": models, "base_model": params["base_model"], "projection": projection}
        watch("ev", start_job(ws, "geometry", geometry))


job_panel(ws, ("evaluate", "geometry", "merge_curve"), "ev", "The job failed")

# ---------------------------------------------------------------- results of an evaluation
st.subheader("Results")
pipeline = latest_auto_job(ws)
if not evaluations and pipeline is not None and pipeline["status"] in ACTIVE:
    st.info(
        "The one-click pipeline is running (see Home): its evaluation appears here when it ends."
    )
elif not evaluations:
    st.info("No evaluation yet: pick the models and a set above and press Evaluate.")
else:
    labels = {
        e["id"]: f"#{e['id']} · {e['dataset']} · {', '.join(json.loads(e['models']))}"
        f" · {e['created_at']}"
        for e in evaluations
    }
    chosen = st.selectbox("Evaluation", list(labels), format_func=labels.get, key="ev_report")
    row = next(e for e in evaluations if e["id"] == chosen)
    report = None
    with user_errors("Could not read the report"):
        report = load_report(ws, row["report_path"])
    if report is not None:
        ds = report["dataset"]
        mode = report["config"].get("passages", "truncate")  # reports before windows cut
        st.caption(
            f"{ds['name']}: {ds['queries']} queries, {ds['documents']} documents"
            + (" · candidates restricted to each query's group" if ds.get("grouped") else "")
            + f" · {PASSAGE_MODE_LABELS[mode]}"
        )
        said = headline(report)
        show = st.success if said.tuned_gains else (st.info if said.at_ceiling else st.warning)
        show("\n\n".join(said.sentences))
        retrievers = pd.DataFrame(retriever_rows(report)).set_index("retriever")
        st.table(retrievers.style.format({k: "{:.3f}" for k in SUMMARY_METRICS}))
        long = metric_long_rows(report)
        table = pd.DataFrame(long).pivot_table(
            index=["metric", "k"], columns="model", values="value", sort=False
        )
        st.dataframe(table.style.format("{:.4f}"), key="ev_metrics_table")
        fig = px.line(
            pd.DataFrame(long),
            x="k",
            y="value",
            color="model",
            facet_col="metric",
            markers=True,
            log_x=True,
            title="Metrics per cut-off k",
        )
        st.plotly_chart(fig, key="ev_metrics_chart")

        cmp = report.get("comparison")
        if cmp:
            sig = cmp["significance"]
            (st.success if sig["significant"] and sig["diff"] > 0 else st.warning)(
                cmp["significance_sentence"]
            )
            if ref := report.get("reference_comparison"):
                st.caption(f"Against the best reference: {ref['significance_sentence']}")
            m1, m2, m3 = st.columns(3)
            m1.metric(f"Wins of {cmp['label_b']}", cmp["wins"])
            m2.metric("Losses", cmp["losses"])
            m3.metric("Ties", cmp["ties"])

            st.markdown(
                f"[See them query by query in Regressions](#regressions): {cmp['losses']} "
                f"queries {cmp['label_b']} ranks worse than {cmp['label_a']}."
            )

            st.subheader("Regressions")
            st.caption(
                "nDCG@10 per query, B − A (largest losses first; click a column to sort). "
                "Select a query to open it in the Playground with both rankings."
            )
            outcome = st.radio(
                "Show", ["all", "loss", "win", "tie"], horizontal=True, key="ev_outcome"
            )
            rows = [q for q in cmp["queries"] if outcome == "all" or q["outcome"] == outcome]
            if not rows:
                st.caption("No queries with this outcome.")
            else:
                frame = pd.DataFrame(rows)[
                    ["query_id", "outcome", "delta", "ndcg_a", "ndcg_b", "query"]
                ].rename(columns={"ndcg_a": cmp["label_a"], "ndcg_b": cmp["label_b"]})
                picked = st.dataframe(
                    frame,
                    hide_index=True,
                    key="ev_queries_table",
                    on_select="rerun",
                    selection_mode="single-row",
                )
                by_id = {q["query_id"]: q for q in rows}
                selected = picked.selection.rows if picked is not None else []
                if selected and frame.iloc[selected[0]]["query_id"] in by_id:
                    st.session_state["ev_query"] = frame.iloc[selected[0]]["query_id"]
                st.plotly_chart(
                    px.bar(
                        frame.reset_index(),
                        x="index",
                        y="delta",
                        color="outcome",
                        hover_data={"query": True, "index": False},
                        color_discrete_map={"loss": "#d62728", "win": "#2ca02c", "tie": "#999"},
                        labels={"index": "query (largest loss first)", "delta": "Δ nDCG@10"},
                        title=f"nDCG@10 of {cmp['label_b']} − {cmp['label_a']} per query",
                    ),
                    key="ev_regressions_chart",
                )
                if st.session_state.get("ev_query") not in by_id:
                    st.session_state.pop("ev_query", None)
                qid = st.selectbox(
                    "Inspect query",
                    list(by_id),
                    format_func=lambda q: f"{by_id[q]['delta']:+.3f} · {by_id[q]['query'][:90]}",
                    key="ev_query",
                )
                q = by_id[qid]
                if st.button("Open in the Playground", key="ev_open_playground", type="primary"):
                    open_in_playground(
                        report["config"]["params"], qid, [cmp["label_a"], cmp["label_b"]]
                    )
                st.markdown(f"**Query:** {q['query']}")
                for rel in q["relevant"][:3]:
                    st.markdown(f"**Relevant** `{rel['doc_id']}`: {plain(rel['text'])}")
                left, right = st.columns(2)
                for col, label, hits in (
                    (left, cmp["label_a"], q["top_a"]),
                    (right, cmp["label_b"], q["top_b"]),
                ):
                    col.markdown(f"**Top 3 of {label}**")
                    for rank, hit in enumerate(hits, 1):
                        mark = "✅" if hit["relevant"] else "·"
                        col.markdown(f"{rank}. {mark} `{hit['doc_id']}` {hit['score']:.3f}")
                        col.caption(plain(hit["text"]))
        elif len(report["models"]) == 1:
            st.caption("One model only: pick a model B to compare per query.")

        d1, d2, d3 = st.columns(3)
        folder = ws.resolve(row["report_path"]).parent  # report.json/.md/.html side by side
        for col, kind, suffix, mime in (
            (d1, "Markdown", "md", "text/markdown"),
            (d2, "HTML", "html", "text/html"),
            (d3, "JSON", "json", "application/json"),
        ):
            path = folder / f"report.{suffix}"
            if path.is_file():
                col.download_button(
                    f"Download {kind}",
                    path.read_bytes(),
                    file_name=f"{report['id']}.{suffix}",
                    mime=mime,
                    key=f"ev_download_{suffix}",
                )

# ---------------------------------------------------------------- merge slider and curve
merge_panel(ws, ready, params)

# ---------------------------------------------------------------- geometry
st.subheader("Geometry")
geo_jobs = [j for j in list_jobs(ws, kind="geometry") if j["status"] == "succeeded"]
if not geo_jobs:
    st.info("No geometry yet: press Compute geometry above (needs curated pairs).")
    st.stop()
geo = None
with user_errors("Could not read the geometry result"):
    geo = json.loads(ws.resolve(geo_jobs[0]["result"]["geometry_path"]).read_text())
if geo is None:
    st.stop()
labels = list(geo["models"])
st.caption(
    f"Sample of {geo['points']['kind'].count('query')} queries and "
    f"{geo['points']['kind'].count('chunk')} chunks; negatives: {geo['negatives_source']}; "
    f"seed {geo['settings']['seed']}."
)
aniso = pd.DataFrame(
    [
        {"model": m, "embeddings": part, "anisotropy": geo["models"][m]["anisotropy"][part]}
        for m in labels
        for part in ("queries", "chunks")
    ]
)
st.plotly_chart(
    px.bar(
        aniso,
        x="model",
        y="anisotropy",
        color="embeddings",
        barmode="group",
        title="Anisotropy (mean cosine of random pairs; high = a narrow cone)",
    ),
    key="ev_anisotropy_chart",
)
sims = pd.DataFrame(
    [
        {"model": m, "pair": kind, "cosine": v}
        for m in labels
        for kind, key in (("positive", "pos_sims"), ("hard negative", "neg_sims"))
        for v in geo["models"][m][key]
    ]
)
if not sims.empty:
    fig = px.histogram(
        sims,
        x="cosine",
        color="pair",
        facet_col="model",
        barmode="overlay",
        nbins=40,
        opacity=0.6,
        title="Similarity of positive vs hard-negative pairs",
    )
    st.plotly_chart(fig, key="ev_similarity_hist")
st.markdown(" · ".join(f"**{m}** separation AUC {geo['summary'][m]['auc']:.3f}" for m in labels))
cols = st.columns(len(labels))
for col, m in zip(cols, labels, strict=True):
    points = pd.DataFrame(
        {
            "x": geo["models"][m]["umap"]["x"],
            "y": geo["models"][m]["umap"]["y"],
            "kind": geo["points"]["kind"],
            "document": geo["points"]["document"],
            "text": geo["points"]["text"],
        }
    )
    fig = px.scatter(
        points,
        x="x",
        y="y",
        color="document",
        symbol="kind",
        hover_data={"text": True, "x": False, "y": False},
        title=f"{geo['settings'].get('projection', 'umap').upper()} · {m}",
    )
    # One legend, under the last plot, so it does not squeeze the plot beside it.
    fig.update_layout(showlegend=col is cols[-1], legend={"orientation": "h", "y": -0.25, "x": 0})
    col.plotly_chart(fig, key=f"ev_umap_{m}")
