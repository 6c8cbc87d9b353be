"""Documents: upload files, see each file's result, browse documents and their chunks."""

import pandas as pd
import streamlit as st

from core.chunking import ChunkingSettings
from core.documents import delete_document, deletion_impact, list_chunks, list_documents
from core.ingest import DEFAULT_MAX_FILE_MB, ingest_files, ingest_summary, rechunk_all
from core.settings import defaults_for
from ui.state import require_workspace

st.title("1 Documents")
st.write(
    "Upload the documents your model should know. They are cut into chunks: the passages "
    "that queries will be written for and that retrieval returns."
)
ws = require_workspace()

with st.expander("Chunking settings", expanded=False):
    mode = st.radio(
        "Strategy",
        ["fixed", "headings"],
        horizontal=True,
        key="docs_chunk_mode",
        help="fixed: word windows with overlap. headings: one chunk per section.",
    )
    c1, c2 = st.columns(2)
    words = c1.number_input("Words per chunk", 20, 2000, 300, 10, key="docs_chunk_words")
    overlap = c2.number_input("Overlap (words)", 0, 500, 50, 5, key="docs_chunk_overlap")
    st.caption("Chunks never exceed the model's token limit; longer ones are split further.")
    settings = ChunkingSettings(mode=mode, chunk_words=int(words), overlap_words=int(overlap))
    if st.button("Re-chunk all documents", key="docs_rechunk"):
        try:
            settings.validate()
            with st.spinner("Re-chunking…"):
                n = rechunk_all(ws, settings, defaults_for(ws).base_model)
            st.success(f"{n} chunks.")
        except ValueError as exc:
            st.error(str(exc))

uploads = st.file_uploader(
    "Upload documents (txt, md, pdf, docx, html)",
    type=["txt", "md", "markdown", "pdf", "docx", "html", "htm"],
    accept_multiple_files=True,
    key="docs_uploader",
)
staged = [
    f for f in uploads or [] if (f.name, f.size) not in st.session_state.get("docs_ingested", [])
]
if uploads and st.button(f"Ingest {len(uploads)} file(s)", type="primary", key="docs_ingest"):
    try:
        settings.validate()
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    bar = st.progress(0.0, text="Ingesting…")
    results = ingest_files(
        ws,
        ((f.name, f.getvalue()) for f in uploads),
        settings,
        model_name=defaults_for(ws).base_model,  # its token limit caps the chunks
        max_file_mb=DEFAULT_MAX_FILE_MB,
        on_progress=lambda i, name: bar.progress(i / len(uploads), text=f"{name}"),
    )
    bar.progress(1.0, text=ingest_summary([r.status for r in results]))
    st.session_state.docs_last_results = [r.to_dict() for r in results]
    st.session_state.docs_ingested = [(f.name, f.size) for f in uploads]
    staged = []

if results := st.session_state.get("docs_last_results"):
    for r in results:
        if r["status"] == "ingested":
            st.success(f"{r['file']}: {r['chunks']} chunks")
        elif r["status"] == "duplicate":
            st.info(f"{r['file']}: already in the workspace")
        else:
            st.error(f"{r['file']}: {r['error']}")
if staged:
    n = len(uploads)
    st.info(
        f"{len(staged)} file(s) staged above and not yet in the workspace: press "
        f"“Ingest {n} file(s)” to add them."
    )

if deleted := st.session_state.pop("docs_deleted", None):
    st.success(deleted)

docs = list_documents(ws)
if not docs:
    if not staged:
        st.info("No documents yet: upload some above.")
    st.stop()

st.subheader(f"Documents ({len(docs)})")
table = pd.DataFrame(
    [
        {
            "id": d.id,
            "name": d.name,
            "format": d.format,
            "chunks": d.n_chunks,
            "pairs": d.n_pairs,
            "characters": d.n_chars,
            "split": d.split or "",
            "added": d.created_at,
        }
        for d in docs
    ]
)
st.dataframe(table, hide_index=True, width="stretch", key="docs_table")

names = {d.id: f"{d.name} (#{d.id})" for d in docs}
doc_id = st.selectbox(
    "Preview chunks of", list(names), format_func=names.get, key="docs_preview_doc"
)
chunks = list_chunks(ws, doc_id)
st.caption(f"{len(chunks)} chunks")
st.dataframe(
    pd.DataFrame(chunks)[["ord", "heading_path", "n_tokens", "start_char", "end_char", "text"]],
    hide_index=True,
    width="stretch",
    key="docs_chunks_table",
)
if st.button("Delete this document", key="docs_delete"):
    st.session_state.docs_confirm_delete = doc_id
pending = st.session_state.get("docs_confirm_delete")
if pending is not None and pending != doc_id:
    st.session_state.pop("docs_confirm_delete")  # another document was picked meanwhile
elif pending is not None:
    impact = deletion_impact(ws, doc_id)
    if impact is None:
        st.session_state.pop("docs_confirm_delete")
        st.rerun()
    st.warning(f"Delete {impact.summary()}? This cannot be undone.", icon="⚠️")
    c1, c2 = st.columns(2)
    if c1.button("Yes, delete it", type="primary", key="docs_delete_confirm"):
        removed = delete_document(ws, doc_id)
        st.session_state.pop("docs_confirm_delete")
        st.session_state.pop("docs_last_results", None)
        if removed is not None:
            st.session_state.docs_deleted = f"Deleted {removed.summary(done=True)}."
        st.rerun()
    if c2.button("Cancel", key="docs_delete_cancel"):
        st.session_state.pop("docs_confirm_delete")
        st.rerun()
