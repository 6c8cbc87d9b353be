"""Home: the workspace at a glance and the next step to take."""

import streamlit as st

from ui.state import require_workspace

st.title("Domain Embedding Studio")
st.write(
    "Turn your documents into a fine-tuned embedding model that retrieves the right passage: "
    "ingest → synthesize queries → curate → mine negatives → train → evaluate → export."
)
ws = require_workspace()
counts = ws.counts()
cols = st.columns(5)
for col, (label, key) in zip(
    cols,
    [
        ("Documents", "documents"),
        ("Chunks", "chunks"),
        ("Pairs", "pairs"),
        ("Negatives", "negatives"),
        ("Runs", "runs"),
    ],
    strict=True,
):
    col.metric(label, counts.get(key, 0))
if counts["documents"] == 0:
    st.info("Start by uploading documents on the Documents page.")
    st.page_link("pages/1_Documents.py", label="Go to Documents", icon="📄")
