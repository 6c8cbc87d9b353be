"""Train: choose the base model, objective and settings; start, follow, cancel or resume."""

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.commands import train_config
from core.models import DEFAULT_BASE_MODEL, MPNET_MODEL
from core.runs import (
    SUCCEEDED,
    get_run,
    job_for_run,
    last_checkpoint,
    list_runs,
    read_progress,
)
from core.training.config import PRESETS, PSEUDO_KINDS, MoESettings, TrainConfig, describe_preset
from core.training.data import curated_kind_counts, latest_mining_id
from core.training.ddp import objective_errors, visible_gpus
from core.training.jobs import start_training
from core.training.objectives import describe_objectives, objective_fields
from core.training.signal import training_signal
from core.training.trainer import format_seconds
from ui.errors import user_errors
from ui.job_panel import job_row
from ui.settings_form import field_widget
from ui.state import require_workspace

st.title("4 Train")
st.write(
    "Fine-tune the base model on your curated pairs and mined negatives. Training runs in the "
    "background: you can leave this page and come back, progress is kept."
)
ws = require_workspace()
HELP = TrainConfig.help()
# The workspace's Settings (base model, device, run defaults) over TrainConfig's defaults,
# exactly as `embstudio train` starts (core/commands.py builds both).
DEFAULTS = train_config(ws, check=False)
SPECS = {s.name: s for s in TrainConfig.specs()}

train_kinds = curated_kind_counts(ws, DEFAULTS.train_split)
n_train = sum(train_kinds.values())
runs = list_runs(ws)

if n_train == 0 and not runs:
    st.info(
        "No curated training pairs yet: accept pairs on the Pairs page first (mining negatives "
        "on the Negatives page helps too), then start training here."
    )
    st.stop()


def _field_input(name: str, disabled: bool = False):
    """The widget of one TrainConfig field, made from the field (ui/settings_form.py)."""
    return field_widget(SPECS[name], getattr(DEFAULTS, name), f"train_f_{name}", disabled=disabled)


# The run's settings this form shows by hand, above; every other TrainConfig field that is no
# objective's and no MoE one (a new one too) is a widget under "More settings", made from it.
BY_HAND = {
    "base_model",
    "loss",
    "preset",
    "epochs",
    "batch_size",
    "learning_rate",
    "negatives_per_query",
    "scale",
    "warmup_ratio",
    "devices",
    "kind_weights",
    "final_fit",
}


with st.expander("New training run", expanded=not runs):
    if latest_mining_id(ws) is None:
        st.warning(
            "No negatives mined yet: records get random chunks as negatives. Mine hard "
            "negatives on the Negatives page for a better model."
        )
    finished = [r["id"] for r in runs if r["status"] == "succeeded"]
    base = st.selectbox(
        "Base model",
        list(dict.fromkeys([DEFAULTS.base_model, DEFAULT_BASE_MODEL, MPNET_MODEL]))
        + [f"run:{r}" for r in finished],
        key="train_base",
        help=HELP["base_model"],
    )
    objectives = describe_objectives()
    loss = st.selectbox("Objective", list(objectives), key="train_loss", help=HELP["loss"])
    st.caption(objectives.get(loss, ""))
    preset = st.radio(
        "Preset", ["auto", *PRESETS], horizontal=True, key="train_preset", help=HELP["preset"]
    )
    in_force = TrainConfig(preset=preset).preset_for(train_kinds)
    n_pseudo = sum(n for k, n in train_kinds.items() if k in PSEUDO_KINDS)
    st.caption(
        f"In force: **{in_force}** ({describe_preset(in_force)}); {n_pseudo} of "
        f"{sum(train_kinds.values())} curated training pairs are pseudo-queries."
    )
    c1, c2, c3 = st.columns(3)
    # Empty = the preset's value, resolved by the trainer exactly as for `embstudio train`
    # (the kinds trained on, after any kind weights, decide the preset in force).
    epochs = c1.number_input(
        "Epochs (empty = preset)",
        0.1,
        100.0,
        DEFAULTS.epochs,
        0.5,
        key="train_epochs",
        placeholder=f"{PRESETS[in_force]['epochs']:g}",
        help=HELP["epochs"],
    )
    batch = c2.number_input(
        "Batch size", 1, 4096, DEFAULTS.batch_size, key="train_batch", help=HELP["batch_size"]
    )
    lr = c3.number_input(
        "Learning rate (empty = preset)",
        1e-7,
        1e-2,
        None,
        format="%.1e",
        key="train_lr",
        placeholder=f"{PRESETS[in_force]['learning_rate']:.1e}",
        help=HELP["learning_rate"],
    )
    c4, c5, c6 = st.columns(3)
    negs = c4.number_input(
        "Hard negatives per record (empty = preset)",
        0,
        20,
        None,
        key="train_negs",
        placeholder=f"{int(PRESETS[in_force]['negatives_per_query'])}",
        help=HELP["negatives_per_query"],
    )
    scale = c5.number_input(
        "Scale (1/temperature)",
        1.0,
        200.0,
        DEFAULTS.scale,
        key="train_scale",
        help=HELP["scale"],
    )
    warmup = c6.number_input(
        "Warm-up ratio",
        0.0,
        0.9,
        DEFAULTS.warmup_ratio,
        key="train_warmup",
        help=HELP["warmup_ratio"],
    )
    extra: dict = {}
    gpus = visible_gpus()
    if gpus > 1:  # several GPUs: train on them together (DDP, core/training/distributed.py)
        extra["devices"] = int(
            st.number_input("Devices", 1, gpus, 1, key="train_devices", help=HELP["devices"])
        )
        st.caption(
            f"Each step trains {extra['devices']} x {int(batch)} = "
            f"{extra['devices'] * int(batch)} records, one batch per device."
        )
    if len(train_kinds) > 1:
        st.markdown("**Mix of question kinds**")
        st.caption(HELP["kind_weights"])
        weights = {}
        for col, (kind, n) in zip(st.columns(len(train_kinds)), train_kinds.items(), strict=True):
            weights[kind] = col.number_input(
                f"{kind} ({n} pairs)",
                0.0,
                10.0,
                float(DEFAULTS.kind_weights.get(kind, 1.0)),
                0.25,
                key=f"train_weight_{kind}",
            )
        extra["kind_weights"] = {k: float(w) for k, w in weights.items() if w != 1.0}
    with st.popover("More settings"):
        elsewhere = BY_HAND | {s.name for s in MoESettings.specs()}
        elsewhere |= {n for o in describe_objectives() for n in objective_fields(o)}
        for spec in TrainConfig.specs():
            if spec.name not in elsewhere and not spec.metadata.get("internal"):
                extra[spec.name] = _field_input(spec.name)
    # The chosen objective's own settings (core/training/objectives/), then the MoE option.
    own = objective_fields(loss)
    if own:
        st.markdown(f"**{loss} settings**")
        for name in own:
            extra[name] = _field_input(name)
    st.markdown("**Mixture of experts**")
    for spec in MoESettings.specs():  # `moe` first: its settings wait until it is on
        off = spec.name != "moe" and not extra.get("moe")
        extra[spec.name] = _field_input(spec.name, disabled=off)
    final_fit = st.checkbox(
        "Final fit on every document after the run",
        DEFAULTS.final_fit,
        key="train_final_fit",
        help=HELP["final_fit"],
    )
    # Built as `embstudio train` builds it (core/commands.py), from the values chosen here;
    # validated when the run starts.
    cfg = train_config(
        ws,
        {
            "base_model": base,
            "loss": loss,
            "preset": preset,
            "epochs": None if epochs is None else float(epochs),
            "batch_size": int(batch),
            "learning_rate": None if lr is None else float(lr),
            "negatives_per_query": None if negs is None else int(negs),
            "scale": float(scale),
            "warmup_ratio": float(warmup),
            "final_fit": final_fit,
            **extra,
        },
        check=False,
    )
    signal = training_signal(ws, cfg)
    (st.warning if signal.too_little else st.caption)("Training signal: " + signal.sentence())
    for reason in objective_errors(cfg):  # refused on several devices, said before the click
        st.error(reason)
    if st.button("Start training", type="primary", key="train_start"):
        with user_errors("Could not start training"):
            run_id, _ = start_training(ws, cfg)
            st.session_state.train_view_run = run_id
            st.success(f"Run {run_id} started.")
            st.rerun()

runs = list_runs(ws)
if not runs:
    st.info("No runs yet: set up a run above and press **Start training**.")
    st.stop()

run_ids = [r["id"] for r in runs]
if st.session_state.get("train_view_run") not in run_ids:
    st.session_state.train_view_run = run_ids[0]
run_id = st.selectbox("Run", run_ids, key="train_view_run")


NDCG = "cosine_ndcg@10"


def _score(value) -> str:
    """A validation score for the runs table: a dash where there is none (no validation
    split, or the run has not finished), never 'None'."""
    return "—" if value is None else f"{value:.3f}"


def finished_line(run: dict) -> str:
    """What a finished run did: its steps and time, its validation score against the base
    model's, and where its model is (not the line of the job that trained it, which may be
    the one-click pipeline gone on to its later stages)."""
    metrics = json.loads(run["metrics"] or "{}")
    parts = []
    if metrics.get("steps") is not None:
        took = metrics.get("train_seconds")
        parts.append(f"{metrics['steps']} steps" + (f" in {format_seconds(took)}" if took else ""))
    if metrics.get("train_loss") is not None:
        parts.append(f"train loss {metrics['train_loss']:.4f}")
    tuned = metrics.get("validation", {}).get(NDCG)
    base_score = metrics.get("validation_base", {}).get(NDCG)
    if tuned is not None:
        parts.append(
            f"validation nDCG@10 {tuned:.3f}"
            + (
                f" (base {base_score:.3f}, {tuned - base_score:+.3f})"
                if base_score is not None
                else ""
            )
        )
    else:
        parts.append("no validation split to score it on")
    return f"Run {run['id']} finished: " + ", ".join(parts) + f". Model: {run['model_path']}"


@st.fragment(run_every=2.0)
def live(run_id: str) -> None:
    run = get_run(ws, run_id)
    job = job_for_run(ws, run_id)
    if run and run["status"] == SUCCEEDED:
        st.success(finished_line(run))
    elif job:
        ckpt = last_checkpoint(ws.run_dir(run_id))
        resume = f"Resume from {ckpt.name}" if ckpt else "Restart"
        with user_errors("Could not cancel or resume"):
            job_row(ws, job, "train", label="Training", resume=resume)
    points = read_progress(ws.run_dir(run_id))
    steps = [p for p in points if p.get("type") == "step"]
    evals = [p for p in points if p.get("type") == "eval"]
    if steps:
        fig = go.Figure(
            go.Scatter(
                x=[p["step"] for p in steps], y=[p["loss"] for p in steps], name="train loss"
            )
        )
        fig.update_layout(height=280, xaxis_title="step", yaxis_title="loss")
        st.plotly_chart(fig, key=f"train_loss_{run_id}")
    if evals:
        ndcg = [(p["step"], v) for p in evals for k, v in p.items() if k.endswith("cosine_ndcg@10")]
        if ndcg:
            st.caption("Validation nDCG@10 by step: " + ", ".join(f"{s}: {v:.3f}" for s, v in ndcg))


live(run_id)

st.subheader("Runs")
table = []
for r in runs:
    metrics = json.loads(r["metrics"] or "{}")
    val = metrics.get("validation", {})
    base_val = metrics.get("validation_base", {})
    table.append(
        {
            "run": r["id"],
            "created": r["created_at"],
            "base": r["base_model"],
            "objective": r["loss"],
            "status": r["status"],
            "val nDCG@10 base": _score(base_val.get(NDCG)),
            "val nDCG@10 tuned": _score(val.get(NDCG)),
            "model": r["model_path"] or "",
        }
    )
st.dataframe(pd.DataFrame(table), hide_index=True, key="train_runs_table")
