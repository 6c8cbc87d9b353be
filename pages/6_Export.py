"""Export: a trained run to ONNX (fp32, int8), checked against PyTorch, zipped, ready to serve."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core.export.pipeline import exportable_runs, list_exports
from core.jobs import start_job
from ui.errors import user_errors
from ui.job_panel import job_panel, watch
from ui.state import require_workspace

st.title("6 Export")
st.write(
    "Package a trained model for use outside the studio: an ONNX graph that outputs the final "
    "normalised embedding (and a faster int8 copy), each checked against the PyTorch model on "
    "your own passages, with a model card, a zip to download and an OpenAI-compatible server."
)
ws = require_workspace()

runs = exportable_runs(ws)
exports = list_exports(ws)
if not runs and not exports:
    st.info("No trained model yet: train one on the 4 Train page first, then export it here.")
    st.stop()

# ---------------------------------------------------------------- start an export
st.subheader("New export")
if runs:
    labels = {r["id"]: f"{r['id']} · {r['loss']} · {r['base_model']}" for r in runs}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="exp_run")
    c1, c2 = st.columns(2)
    int8 = c1.checkbox(
        "Also int8 (dynamic quantization)",
        value=True,
        key="exp_int8",
        help="About 4× smaller and faster on CPU; must keep a mean cosine ≥ 0.99 vs PyTorch.",
    )
    n_texts = c2.number_input(
        "Parity texts",
        8,
        512,
        64,
        8,
        key="exp_texts",
        help="Workspace passages embedded by both PyTorch and ONNX; the mean cosine must reach "
        "0.999 (fp32) or 0.99 (int8). If full int8 misses it, the feed-forward output layers "
        "stay fp32; then int8 weights in blocks of 32 (closest to PyTorch, not faster); if "
        "all miss, only fp32 is written and the page says why.",
    )
    if st.button("Export", type="primary", key="exp_start"):
        with user_errors("Could not start the export"):
            params = {"run_id": run_id, "int8": bool(int8), "n_texts": int(n_texts)}
            watch("exp", start_job(ws, "export", params))
else:
    st.caption("No run with a saved model: only earlier exports are shown.")


job_panel(ws, ("export",), "exp", "The export failed")

# ---------------------------------------------------------------- finished exports
st.subheader("Exports")
if not exports:
    st.info("No export yet: pick a run above and press Export.")
    st.stop()
names = {e["id"]: f"{e['id']} · {', '.join(e['formats'])} · {e['created_at']}" for e in exports}
chosen = st.selectbox("Export", list(names), format_func=names.get, key="exp_choice")
info = next(e for e in exports if e["id"] == chosen)

speed = info.get("speed_texts_per_s", {})
ratio = info.get("speed_vs_torch", {})
rows = [
    {
        "format": fmt,
        "mean cosine": f["parity"]["mean"],
        "min cosine": f["parity"]["min"],
        "required mean": f["parity"]["threshold"],
        "passed": f["parity"]["passed"],
        "texts": f["parity"]["n"],
        "size (MB)": f["size_mb"],
        "texts/s": speed.get(fmt),
        "× torch speed": ratio.get(fmt),
    }
    for fmt, f in info["formats"].items()
]
if info.get("int8"):
    fell_back = "onnx-int8" not in info["formats"]
    (st.warning if fell_back else st.caption)(f"int8: {info['int8']}")
st.markdown("**Parity with PyTorch and speed** (CPU, measured during the export)")
st.dataframe(
    pd.DataFrame(rows).style.format(
        {
            "mean cosine": "{:.5f}",
            "min cosine": "{:.4f}",
            "texts/s": "{:.1f}",
            "× torch speed": "{:.2f}",
        }
    ),
    hide_index=True,
    key="exp_parity_table",
)
if speed:
    chart = pd.DataFrame({"backend": list(speed), "texts per second": list(speed.values())})
    fig = px.bar(chart, x="backend", y="texts per second", title="Throughput on the parity texts")
    st.plotly_chart(fig, key="exp_speed_chart")
    st.caption(
        "One pass over the parity texts on this machine: indicative only. "
        "`python bench/bench_export.py` measures it properly."
    )

folder = Path(info["path"])
card = folder / "README.md"
with st.expander("Model card (README.md)", expanded=False):
    st.markdown(card.read_text() if card.is_file() else "No model card in this export.")

zip_path = info.get("zip")
if zip_path and Path(zip_path).is_file():
    size_mb = Path(zip_path).stat().st_size / 1e6
    st.download_button(
        f"Download {Path(zip_path).name} ({size_mb:.0f} MB)",
        data=lambda: Path(zip_path).read_bytes(),  # read only when clicked
        file_name=Path(zip_path).name,
        mime="application/zip",
        key="exp_download",
    )
else:
    st.caption("No zip for this export.")

st.markdown("**Serve it** (OpenAI-compatible `POST /v1/embeddings`, local only by default)")
sub = "onnx-int8" if "onnx-int8" in info["formats"] else "onnx"
st.code(f"embstudio serve {folder / sub} --port 8000", language="bash")
st.code(
    "from openai import OpenAI\n"
    'client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")\n'
    f'vectors = client.embeddings.create(model="{info["run_id"]}", input=["a question"])',
    language="python",
)
st.caption("Add `--api-key KEY` (or set EMBSTUDIO_API_KEY) to require a bearer key.")
