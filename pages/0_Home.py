"""Home: the workspace at a glance, the next step to take, running jobs."""

import pandas as pd
import streamlit as st

from core.jobs import ACTIVE, list_jobs
from core.overview import latest_headline, next_step, overview, plural
from ui import nav
from ui.errors import user_errors
from ui.job_panel import REFRESH_S, job_row
from ui.pipeline_panel import pipeline_section
from ui.state import require_workspace

st.title("Domain Embedding Studio")
st.write(
    "Turn your documents into a fine-tuned embedding model that retrieves the right passage: "
    "upload → write questions → curate → mine negatives → train → evaluate → export."
)
ws = require_workspace()
c = overview(ws)

if c["documents"] == 0:
    st.info(
        "This workspace is empty. Start by uploading documents on the Documents page, "
        "or load the demo documents to click through every step in a few minutes."
    )
    left, right = st.columns(2)
    with left:
        nav.link(nav.DOCUMENTS, "Upload documents", key="home_go_documents")
    if right.button("Load the demo documents", key="home_load_demo", icon=":material/science:"):
        from core.demo import build_demo_workspace

        with user_errors("Could not load the demo"), st.spinner("Ingesting the samples…"):
            build_demo_workspace(ws.root)
            st.rerun()

STEPS = [
    (nav.DOCUMENTS, f"{plural(c['documents'], 'document')} · {plural(c['chunks'], 'chunk')}"),
    (
        nav.PAIRS,
        f"{plural(c['pairs'], 'pair')} · {c['pairs_curated']} curated · "
        f"{c.get('pairs_pending', 0)} to review",
    ),
    (nav.NEGATIVES, plural(c["negatives"], "hard negative")),
    (nav.TRAIN, f"{plural(c['runs'], 'run')} · {c['runs_succeeded']} finished"),
    (nav.EVALUATE, plural(c["evaluations"], "evaluation")),
    (nav.EXPORT, plural(c["exports"], "export")),
]
cols = st.columns(len(STEPS))
for col, (page, text) in zip(cols, STEPS, strict=True):
    with col.container(border=True):
        # The card's title opens its page.
        nav.link(page, page.title, key=f"home_card_{page.path}", kind="tertiary")
        st.caption(text)

# While the one-click pipeline runs, it is the next step: no other step is suggested.
pipeline_running = c["documents"] > 0 and pipeline_section(ws)

step = next_step(c, latest_headline(ws) if c["evaluations"] else None)
if step is None:
    st.success("Every step has been done once. Try another objective on the Train page.")
elif c["documents"] > 0 and not pipeline_running:
    st.subheader("Next step")
    st.write(step.why)
    target = {p.title.split(" ", 1)[-1].lower(): p for p in nav.PIPELINE}[step.page]
    nav.link(target, step.label, key="home_next_step")

with st.expander("Pairs by status", expanded=False):
    statuses = ["pending", "accepted", "edited", "rejected", "dropped"]
    st.dataframe(
        pd.DataFrame([{"status": s, "pairs": c.get(f"pairs_{s}", 0)} for s in statuses]),
        hide_index=True,
        key="home_pairs_by_status",
    )


@st.fragment(run_every=REFRESH_S)
def jobs_section() -> None:
    everything = list_jobs(ws)
    if not everything:
        st.caption("No jobs yet. Long work (generation, mining, training, …) runs here.")
        return
    # An active pipeline is drawn above, with its Cancel button.
    jobs = [j for j in everything if not (j["kind"] == "auto" and j["status"] in ACTIVE)][:8]
    if not jobs:
        return
    st.subheader("Jobs")
    for job in jobs:
        job_row(ws, job, "home")


jobs_section()
