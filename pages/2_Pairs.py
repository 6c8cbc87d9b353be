"""Pairs: generate synthetic questions as a job, review them, import and export."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core import pairs
from core.access import check_data_path
from core.beir_import import import_pairs
from core.commands import generate_settings, provide_api_key
from core.documents import list_chunks, list_documents
from core.generation.bundled_llms import CATALOGUE, unavailable_reason
from core.generation.examples import MAX_EXAMPLES, load_examples, save_examples
from core.generation.filters import FilterSettings
from core.generation.kinds import (
    default_per_chunk,
    kind_names,
    needs_writer,
    pseudo_kinds,
    writer_kinds,
)
from core.generation.pipeline import GenerateSettings, default_kinds
from core.generation.provider_registry import DEFAULT_PROVIDER, get_provider, provider_names
from core.generation.pseudo import ICT_WORDS_PER_QUERY
from core.jobs import list_jobs, start_job
from core.question_log import describe as describe_log
from core.question_log import import_log
from core.related_questions import describe_sources, import_questions, imported_by_source
from core.settings import defaults_for
from ui.errors import user_errors
from ui.job_panel import first_line, job_panel, watch
from ui.state import default_workspace_path, require_workspace, secrets_or_none

EDITOR = "pairs_editor"

st.title("2 Pairs")
st.write(
    "Training needs (question, passage) pairs. Write them from your chunks with an LLM or "
    "without one (sentences, keywords, headings), let the filters drop the junk, then review: "
    "edit, accept or reject. Accepted and edited pairs are what training uses."
)
ws = require_workspace()

documents = list_documents(ws)
if not documents:
    st.info("No documents yet: upload documents on the Documents page first.")
    st.stop()

# ---------------------------------------------------------------- generate (background job)
# The Settings page holds the workspace's provider and run defaults; this form starts from them.
defaults = defaults_for(ws)
llm_settings = defaults.llm
names = provider_names()
with st.expander("Generate pairs", expanded=ws.counts()["pairs"] == 0):
    kinds = st.multiselect(
        "Kinds",
        list(kind_names()),
        default=list(default_kinds(writer_named=llm_settings.provider != DEFAULT_PROVIDER)),
        key="pairs_kinds",
        help="LLM: simple, multi-hop, structural, contextual. No LLM: ict (a sentence as "
        "query), keywords (salient phrases), heading (section title → its chunks).",
    )
    # The writer's controls show only when a chosen kind needs a writer: ict, keywords and
    # heading come from the text itself.
    wants_writer = any(needs_writer(k) for k in kinds)
    provider = DEFAULT_PROVIDER
    endpoint: dict[str, str | None] = {}
    if wants_writer:
        provider = st.radio(
            "Question writer",
            names,
            index=names.index(llm_settings.provider) if llm_settings.provider in names else 0,
            horizontal=True,
            key="pairs_provider",
            help=". ".join(f"{n}: {get_provider(n).help}" for n in names) + ".",
        )
        # The endpoint inputs the chosen provider reads, starting from the saved ones.
        reads = get_provider(provider).fields
        endpoint = dict.fromkeys(reads)
        columns = iter(st.columns(len(reads))) if reads else iter(())
        if "local_model" in reads:
            keys = list(CATALOGUE)
            chosen = next(columns).selectbox(
                "Local model",
                keys,
                index=keys.index(llm_settings.local_model),
                key="pairs_local_model",
                format_func=lambda k: f"{CATALOGUE[k].display}: {CATALOGUE[k].about}",
            )
            endpoint["local_model"] = chosen
            if why := unavailable_reason(CATALOGUE[chosen]):
                st.warning(why)
        if "model" in reads:
            endpoint["model"] = next(columns).text_input(
                "Model", llm_settings.model, key="pairs_model"
            )
        if "base_url" in reads:
            endpoint["base_url"] = (
                next(columns).text_input(
                    "Base URL (empty = OpenAI)", llm_settings.base_url or "", key="pairs_base_url"
                )
                or None
            )
        if "api_key_env" in reads:
            endpoint["api_key_env"] = next(columns).text_input(
                "API key variable",
                llm_settings.api_key_env,
                key="pairs_key_env",
                help="Name of the environment variable holding the key; the key is never stored.",
            )
    elif kinds:
        st.caption(
            f"{', '.join(kinds)} need{'s' if len(kinds) == 1 else ''} no question writer: "
            "the queries come from the text "
            f"itself. Add an LLM kind ({', '.join(writer_kinds())}) to choose a writer."
        )
    g1, g2, g3 = st.columns(3)
    per_chunk = g1.number_input(
        "Per chunk (0 = defaults)",
        0,
        10,
        defaults.per_chunk or 0,
        key="pairs_per_chunk",
        help="Questions per chunk for each kind; 0 keeps each kind's default ("
        + ", ".join(f"{k} {n}" for k, n in default_per_chunk().items())
        + f"; ict one per {ICT_WORDS_PER_QUERY} words of the chunk).",
    )
    limit = g2.number_input(
        "Only the first N chunks (0 = all)",
        0,
        100000,
        defaults.limit_chunks or 0,
        key="pairs_limit",
    )
    min_score = FilterSettings().min_judge_score
    if wants_writer:  # the judge reads LLM questions only
        min_score = g3.slider(
            "Keep judge score ≥",
            1.0,
            5.0,
            FilterSettings().min_judge_score,
            0.5,
            key="pairs_min_judge",
        )
    ict_remove = st.checkbox(
        "Inverse cloze: remove the query sentence from its passage",
        GenerateSettings().ict_remove_sentence,
        key="pairs_ict_remove",
        disabled="ict" not in kinds,
        help="As in the original ICT: the model must find the passage from its context rather "
        "than by matching the very same words.",
    )
    examples_text = None
    if wants_writer:
        examples_text = st.text_area(
            f"Example questions (one per line, up to {MAX_EXAMPLES}; LLM kinds only)",
            "\n".join(load_examples(ws)),
            key="pairs_examples",
            height=110,
            help="Questions your users really ask, e.g. 'When is the second midterm?'. Every "
            "LLM prompt shows them so the writer asks in their style; they never become pairs.",
        )
    write_again = st.checkbox(
        "Write again for chunks that already have questions from this writer",
        False,
        key="pairs_write_again",
        help="A rerun otherwise resumes: it skips every chunk and kind this writer has done.",
    )
    active = list_jobs(ws, kind="generate", active_only=True)
    if st.button("Generate", type="primary", key="pairs_generate", disabled=bool(active)):
        with user_errors("Could not start generation"):
            if examples_text is not None:  # shown only with an LLM kind
                save_examples(ws, examples_text.splitlines())
            # Built as `embstudio generate` builds it (core/commands.py), from the values
            # chosen here; the provider's model setting is the run's model (a bundled writer or
            # the endpoint's model name).
            settings = generate_settings(
                ws,
                {
                    "provider": provider,
                    **{
                        ("model" if k == get_provider(provider).model_setting else k): v
                        for k, v in endpoint.items()
                    },
                    "kinds": kinds,
                    "per_chunk": int(per_chunk) or None,
                    "limit_chunks": int(limit) or None,
                    "min_judge_score": float(min_score),
                    "ict_remove_sentence": bool(ict_remove),
                    "write_again": bool(write_again),
                },
            )
            # A key kept in Streamlit secrets reaches the job process through its environment.
            provide_api_key(settings, secrets_or_none())
            watch("pairs", start_job(ws, "generate", settings.to_params()))
            st.rerun()


job_panel(ws, ("generate",), "pairs")


def last_generation() -> None:
    """What the last generation job did (its progress is the job panel's)."""
    jobs = list_jobs(ws, kind="generate")
    if not jobs:
        return
    job = jobs[0]
    if job["status"] == "succeeded" and job["result"]:
        r = job["result"]
        reasons = ", ".join(f"{k} {v}" for k, v in r.get("dropped_by_reason", {}).items())
        st.success(
            f"Last generation: kept {r['kept']}, dropped {r['dropped']}"
            + (f" ({reasons})" if reasons else "")
            + (f"; {r['errors']} chunks failed" if r.get("errors") else "")
            + (
                f"; {r['chunks_skipped']} chunks skipped as already written by this writer "
                "(tick 'Write again' to write them anew)"
                if r.get("chunks_skipped")
                else ""
            )
        )
        if r.get("examples"):
            st.caption("Example questions shown to the writer: " + " · ".join(r["examples"]))
    elif job["status"] == "failed":
        st.error(f"Last generation failed: {first_line(job['error'])}")


last_generation()

# ---------------------------------------------------------------- review
all_pairs = pairs.list_pairs(ws)
if not all_pairs:
    st.info("No pairs yet: generate some above, add one by hand below, or import a file.")
else:
    st.subheader("Review")
    counts = pairs.status_counts(ws)
    # Every status is a pill of its own, lit when it is shown: the filter reads as what it
    # filters, whatever the width (a multiselect in a narrow column hid chips).
    f_status = st.pills(
        "Status",
        list(pairs.REVIEWABLE),
        selection_mode="multi",
        default=list(pairs.REVIEWABLE),
        format_func=lambda s: f"{s} ({counts.get(s, 0)})",
        key="pairs_f_status",
    )
    f1, f3, f4 = st.columns(3)
    kinds_present = sorted({p["kind"] for p in all_pairs})
    f_kind = f1.multiselect("Kind", kinds_present, key="pairs_f_kind")
    f_score = f3.number_input(
        "Judge score ≥",
        0.0,
        5.0,
        0.0,
        0.5,
        key="pairs_f_score",
        help="LLM questions only: pseudo-queries (ict, keywords, heading) have no judge score.",
    )
    doc_names = {0: "all documents", **{d.id: d.name for d in documents}}
    f_doc = f4.selectbox("Document", list(doc_names), format_func=doc_names.get, key="pairs_f_doc")
    shown = (
        pairs.list_pairs(
            ws,
            kind=f_kind or None,
            status=f_status,
            min_score=f_score or None,
            document_id=f_doc or None,
        )
        if f_status
        else []
    )
    st.caption(
        f"Showing {len(shown)} pair{'' if len(shown) == 1 else 's'} with status "
        f"{' or '.join(f_status)}."
        if f_status
        else "No status chosen: pick one or more above to list pairs."
    )
    # A pseudo-query has no judge; a score stored by an older version is not shown.
    no_judge = set(pseudo_kinds())

    def _judge_cell(p: dict) -> str:
        """The judge column: the score, or a dash where no judge read the pair (one decimal,
        1-5, so the text sorts as the number)."""
        score = None if p["kind"] in no_judge else p["judge_score"]
        return "—" if score is None else f"{score:.1f}"

    table = pd.DataFrame(
        [
            {
                "select": False,
                "id": p["id"],
                "question": p["query"],
                "kind": p["kind"],
                "status": p["status"],
                "score": _judge_cell(p),
                "rank": p["roundtrip_rank"],
                "split": p["split"],
                "document": p["document"],
                "reason": p["reason"],
                "version": p["version"],
            }
            for p in shown
        ],
        columns=[
            "select",
            "id",
            "question",
            "kind",
            "status",
            "score",
            "rank",
            "split",
            "document",
            "reason",
            "version",
        ],
    )
    # Row edits are kept by row position: when the rows change (filters, new pairs), old edits
    # would land on other pairs, so they are cleared.
    signature = tuple(int(i) for i in table["id"])
    if st.session_state.get("pairs_editor_rows") != signature:
        st.session_state.pop(EDITOR, None)
        st.session_state.pairs_editor_rows = signature
    edited = st.data_editor(
        table,
        key=EDITOR,
        hide_index=True,
        width="stretch",
        disabled=[c for c in table.columns if c not in ("select", "question")],
        column_config={
            "select": st.column_config.CheckboxColumn("✓", help="select for accept/reject"),
            "question": st.column_config.TextColumn("question", width="large"),
            "score": st.column_config.TextColumn(
                "judge",
                help="mean of relevance, accuracy, clarity (1-5); — where no judge read the "
                "pair (pseudo-queries: ict, keywords, heading)",
            ),
            "rank": st.column_config.NumberColumn("round-trip", help="rank of the source chunk"),
            "version": None,
        },
    )
    selected = [int(i) for i in edited.loc[edited["select"], "id"]] if len(edited) else []
    versions = {int(r["id"]): int(r["version"]) for _, r in table.iterrows()}

    def _done(message: str) -> None:
        st.session_state.pop(EDITOR, None)  # row edits refer to the old table
        st.session_state.pairs_flash = message
        st.rerun()

    b1, b2, b3 = st.columns(3)
    if b1.button(f"Accept selected ({len(selected)})", key="pairs_accept", disabled=not selected):
        with user_errors("Could not accept"):
            n = pairs.accept(ws, selected, expected_versions=versions)
            _done(f"Accepted {n} pairs.")
    if b2.button(f"Reject selected ({len(selected)})", key="pairs_reject", disabled=not selected):
        with user_errors("Could not reject"):
            n = pairs.reject(ws, selected, expected_versions=versions)
            _done(f"Rejected {n} pairs.")
    changed = [
        (int(new["id"]), str(new["question"]))
        for (_, new), (_, old) in zip(edited.iterrows(), table.iterrows(), strict=True)
        if str(new["question"]).strip() != str(old["question"])
    ]
    if b3.button(f"Save edited questions ({len(changed)})", key="pairs_save", disabled=not changed):
        with user_errors("Could not save the edits"):
            for pair_id, question in changed:
                pairs.edit_question(ws, pair_id, question, versions[pair_id])
            _done(f"Saved {len(changed)} edited questions.")
    if message := st.session_state.pop("pairs_flash", None):
        st.success(message)

    s1, s2, s3 = st.columns([1, 1, 1])
    bulk = s1.number_input(
        "Accept all pending with judge ≥",
        1.0,
        5.0,
        4.0,
        0.5,
        key="pairs_bulk_score",
        help="Judged LLM questions only: pseudo-queries have no judge score.",
    )
    if s2.button("Bulk accept", key="pairs_bulk_accept"):
        with user_errors("Could not bulk-accept"):
            n = pairs.accept_min_score(ws, float(bulk))
            _done(f"Accepted {n} pending pairs with judge score ≥ {bulk:g}.")
    if s3.button(f"Accept all pending ({counts['pending']})", key="pairs_accept_all"):
        with user_errors("Could not accept"):
            n = pairs.accept_all(ws)
            _done(f"Accepted {n} pending pairs.")

    if shown:
        labels = {p["id"]: f"#{p['id']}: {p['query'][:80]}" for p in shown}
        pick = st.selectbox(
            "Show the source chunk(s) of",
            list(labels),
            format_func=labels.get,
            key="pairs_show_source",
            index=None,
        )
        if pick is not None:
            for chunk in pairs.get_pair(ws, pick)["positives"]:
                st.markdown(
                    f"**{chunk['document']}** · chunk {chunk['ord']} · "
                    f"{chunk['heading_path'] or ''}"
                )
                st.text(chunk["text"])

    dropped = [
        {**p, "judge_score": None if p["kind"] in no_judge else p["judge_score"]}
        for p in pairs.list_pairs(ws, status="dropped")
    ]
    with st.expander(f"Dropped by the filters ({len(dropped)})"):
        if dropped:
            st.caption(" · ".join(f"{k}: {v}" for k, v in pairs.drop_reasons(ws).items()))
            st.dataframe(
                pd.DataFrame(dropped)[
                    ["id", "query", "kind", "reason", "judge_score", "roundtrip_rank"]
                ],
                hide_index=True,
                width="stretch",
                key="pairs_dropped_table",
            )
            restore = st.multiselect(
                "Restore to pending", [p["id"] for p in dropped], key="pairs_restore"
            )
            if restore and st.button("Restore", key="pairs_restore_btn"):
                with user_errors("Could not restore"):
                    n = pairs.set_status(ws, restore, "pending")
                    _done(f"Restored {n} pairs.")

# ---------------------------------------------------------------- manual pair
with st.expander("Add a pair by hand"):
    chunks = list_chunks(ws)
    chunk_labels = {c["id"]: f"{c['document']} #{c['ord']}: {c['text'][:70]}" for c in chunks}
    question = st.text_input("Question", key="pairs_manual_q")
    chosen = st.multiselect(
        "Chunks that answer it",
        list(chunk_labels),
        format_func=chunk_labels.get,
        key="pairs_manual_chunks",
    )
    if st.button("Add pair", key="pairs_manual_add"):
        with user_errors("Could not add the pair"):
            pid = pairs.add_manual_pair(ws, question, chosen)
            st.success(f"Added pair #{pid}.")


# ---------------------------------------------------------------- import / export
def chosen_file(upload, typed_path: str, prefix: str) -> Path:
    """The file the user chose: an upload, kept in the workspace as `prefix` + its name, else a
    path typed on this machine (checked by core.access.check_data_path)."""
    if upload is not None:
        target = ws.exports_dir / f"{prefix}{Path(upload.name).name}"
        target.write_bytes(upload.getvalue())
        return target
    return check_data_path(typed_path, default_workspace_path())


with st.expander("Import and export"):
    upload = st.file_uploader("Import pairs (JSONL)", type=["jsonl"], key="pairs_import_file")
    if upload is not None and st.button("Import", key="pairs_import_btn"):
        with user_errors("Could not import"):
            result = pairs.import_jsonl(ws, chosen_file(upload, "", "import-"))
            st.success(
                f"Imported {result['imported']} pairs; {result['duplicates']} already "
                f"present, {result['skipped']} skipped."
            )
            for problem in result["problems"]:
                st.warning(problem)
    beir_dir = st.text_input(
        "…or a BEIR folder on this machine (corpus.jsonl, queries.jsonl, qrels/)",
        key="pairs_beir_dir",
    )
    if beir_dir and st.button("Import BEIR folder", key="pairs_beir_btn"):
        with user_errors("Could not import the BEIR folder"):
            result = import_pairs(ws, beir_dir)
            st.success(f"Imported {result['imported']} labelled queries.")
    if all_pairs and st.button("Export all pairs to JSONL", key="pairs_export_btn"):
        with user_errors("Could not export"):
            path = ws.exports_dir / "pairs.jsonl"
            st.session_state.pairs_export_n = pairs.export_jsonl(ws, path)
    if st.session_state.get("pairs_export_n") is not None:
        path = ws.exports_dir / "pairs.jsonl"
        if path.is_file():
            st.download_button(
                f"Download {st.session_state.pairs_export_n} pairs (pairs.jsonl)",
                path.read_bytes(),
                "pairs.jsonl",
                "application/jsonl",
                key="pairs_export",
            )

# ---------------------------------------------------------------- related questions (issue 24)
with st.expander("Import real questions: from a related collection, or a log of past questions"):
    st.caption(
        "Real questions about other documents of the same kind (last year's documents, an FAQ, "
        "a search log with the page that answered) teach the model how users ask. They come "
        "with their own passages, are accepted, train mixed with this workspace's pairs in "
        "every fit and are never part of its evaluation. A BEIR folder (corpus.jsonl, "
        'queries.jsonl, qrels/) or JSONL with {"question", "passage"} per line.'
    )
    rq_upload = st.file_uploader("JSONL of questions", type=["jsonl"], key="rq_file")
    rq_path = st.text_input("…or a BEIR folder or JSONL file on this machine", key="rq_path")
    rq_source = st.text_input(
        "Collection name (shown before training and in the model card)",
        key="rq_source",
        help="Empty: the folder's or file's name.",
    )
    rq_group = st.text_input(
        "Group field (optional)",
        key="rq_group",
        help="The passage field that sorts passages into groups, e.g. 'syllabus'.",
    )
    rq_only = st.text_area("Import only these groups (one per line)", key="rq_only")
    rq_skip = st.text_area(
        "Leave out these groups (one per line), e.g. the documents you evaluate on",
        key="rq_skip",
    )
    if (rq_upload is not None or rq_path) and st.button("Import questions", key="rq_import"):
        with user_errors("Could not import the questions"):
            out = import_questions(
                ws,
                chosen_file(rq_upload, rq_path, "questions-"),
                source=rq_source or None,
                group=rq_group or None,
                only_groups=[g.strip() for g in rq_only.splitlines() if g.strip()] or None,
                skip_groups=[g.strip() for g in rq_skip.splitlines() if g.strip()] or None,
            )
            st.success(
                f"Imported {out['imported']} question-passage pairs ({out['questions']} "
                f"questions) from {out['source']}; skipped {out['duplicates']} duplicates, "
                f"{out['empty']} empty"
                + (f", left out {out['left_out']} by group." if rq_group else ".")
            )
            if out["unknown_groups"]:
                st.warning("Groups not found: " + "; ".join(out["unknown_groups"][:10]))
    if rq_by_source := imported_by_source(ws):
        st.caption("Trained in every fit: " + describe_sources(rq_by_source) + ".")

    # A question log without answers (issue 24, item 2): core/question_log.py.
    st.markdown("**A log of past questions about these documents, without answers**")
    st.caption(
        "A text file, one question per line (a search log, support tickets, an exam bank). "
        "Each question's answer is the chunk the base model fused with keyword search finds "
        "first, kept only where that chunk wins clearly over the next; the pairs wait for "
        "review on this page."
    )
    log_upload = st.file_uploader("Question log", type=["txt"], key="log_file")
    log_path = st.text_input("…or a text file on this machine", key="log_path")
    log_documents = [d.name for d in list_documents(ws)]
    log_document = st.selectbox(
        "About which document",
        [None, *log_documents],
        format_func=lambda name: "All documents" if name is None else name,
        key="log_document",
        help="A log about one document: each question's chunk is searched in it only, which "
        "picks the right chunk far more often.",
    )
    if (log_upload is not None or log_path) and st.button("Import the log", key="log_import"):
        with user_errors("Could not import the question log"):
            source_path = chosen_file(log_upload, log_path, "")
            bar = st.progress(0.0, text="Finding each question's chunk…")

            def log_step(stage: str, done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=f"Embedding {stage}: {done}/{total}")

            out = import_log(ws, source_path, document=log_document, on_progress=log_step)
            st.session_state.log_result = describe_log(out)
    if st.session_state.get("log_result"):
        st.success(st.session_state.log_result + ".")
