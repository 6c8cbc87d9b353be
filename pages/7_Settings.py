"""Settings: LLM provider, base model, device and small-run defaults, in one place."""

import streamlit as st

from core.access import DATA_ROOTS_ENV, check_data_path
from core.evaluation.general_data import SCIFACT_URL, general_source
from core.generation.bundled_llms import CATALOGUE, unavailable_reason
from core.generation.provider_registry import check_llm, get_provider, provider_names
from core.models import DEFAULT_BASE_MODEL, MPNET_MODEL
from core.settings import (
    DEMO_DEFAULTS,
    DEVICES,
    LLMSettings,
    RunDefaults,
    StudioSettings,
    api_key,
    device_info,
    load_settings,
    save_settings,
)
from ui.errors import user_errors
from ui.state import default_workspace_path, require_workspace, secrets_or_none

st.title("Settings")
st.write(
    "Choose who writes the training questions, which model to fine-tune and where it trains. "
    "Every page and `embstudio` command of this workspace starts from these; API keys are "
    "never saved."
)
ws = require_workspace()
current = load_settings(ws)

st.subheader("Question writer (LLM)")
names = provider_names()
provider = st.radio(
    "Provider",
    names,
    index=names.index(current.llm.provider) if current.llm.provider in names else 0,
    horizontal=True,
    key="settings_provider",
    format_func=lambda n: get_provider(n).label,
)
spec = get_provider(provider)
local_model = st.selectbox(
    "Local model",
    list(CATALOGUE),
    index=list(CATALOGUE).index(current.llm.local_model),
    key="settings_local_model",
    format_func=lambda k: f"{CATALOGUE[k].display}: {CATALOGUE[k].about}",
    disabled="local_model" not in spec.fields,
)
if "local_model" in spec.fields and (why := unavailable_reason(CATALOGUE[local_model])):
    st.warning(why)
c1, c2 = st.columns(2)
base_url = c1.text_input(
    "Base URL",
    current.llm.base_url,
    key="settings_base_url",
    help="OpenAI, or your own vLLM / NIM / Ollama server, e.g. http://localhost:8000/v1",
    disabled="base_url" not in spec.fields,
)
model = c2.text_input(
    "Model", current.llm.model, key="settings_llm_model", disabled="model" not in spec.fields
)
key_env = st.text_input(
    "Environment variable holding the API key",
    current.llm.api_key_env,
    key="settings_key_env",
    help="Set it before starting the app (export OPENAI_API_KEY=...) or put it in "
    ".streamlit/secrets.toml. The key itself is never saved by the studio.",
    disabled="api_key_env" not in spec.fields,
)
if spec.needs_key:
    probe = LLMSettings(provider=provider, api_key_env=key_env)
    if api_key(probe, secrets_or_none()):
        st.success(f"A key was found in {key_env}.")
    else:
        st.warning(
            f"No key in the environment variable {key_env} or in Streamlit secrets. "
            "Local servers without authentication work without one."
        )

st.subheader("Base model")
known = [DEFAULT_BASE_MODEL, MPNET_MODEL]
choice = st.selectbox(
    "Model to fine-tune",
    [*known, "other…"],
    index=known.index(current.base_model) if current.base_model in known else len(known),
    key="settings_base_model_choice",
    help="all-MiniLM-L6-v2 (384-d, fast) ships with the studio; all-mpnet-base-v2 (768-d) "
    "when its package is installed. Other: a hub name or a local folder. Generation's "
    "filters, mining, training, evaluation and the chunk token limit start from it.",
)
base_model = (
    st.text_input(
        "Hub name or local folder",
        current.base_model if current.base_model not in known else "",
        key="settings_base_model_other",
    )
    if choice == "other…"
    else choice
)

st.subheader("Device")
info = device_info()
gpu_text = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in info["gpus"]) or "no GPU found"
st.write(
    f"Detected: **{info['detected'].upper()}** · {gpu_text} · {info['cpu_cores']} CPU cores "
    f"· torch {info['torch']}"
)
device = st.radio(
    "Run training on",
    DEVICES,
    index=DEVICES.index(current.device),
    horizontal=True,
    key="settings_device",
    help="auto: the GPU when one is usable, otherwise the CPU.",
)

st.subheader("General-domain check")
general_dir = st.text_input(
    "General-domain set (BEIR folder)",
    current.general_dir,
    key="settings_general_dir",
    help="The set that shows what tuning cost outside your domain (Evaluate's general set "
    "and the merge curve). Empty: $EMBSTUDIO_GENERAL_DIR when set, else SciFact, downloaded "
    "once into the cache when the BEIR server is reachable. Offline, unzip "
    f"{SCIFACT_URL} and name its folder here (under {DATA_ROOTS_ENV}).",
)
st.caption(f"Now: {general_source(general_dir)}")

st.subheader("Starting values for new jobs")
st.caption(
    "The Pairs and Train pages and `embstudio generate` / `embstudio train` start from these "
    "(0 = the step's own default); small values keep a CPU run to minutes."
)
d = current.defaults
c1, c2, c3 = st.columns(3)
per_chunk = c1.number_input(
    "Questions per chunk and kind (0 = each kind's)",
    0,
    20,
    d.generate_per_chunk,
    key="settings_per_chunk",
)
limit_chunks = c2.number_input(
    "Chunks to write for (0 = all)", 0, 100_000, d.generate_limit_chunks, key="settings_limit"
)
epochs = c3.number_input(
    "Training epochs (0 = the preset's)", 0, 100, d.train_epochs, key="settings_epochs"
)
c1, c2, _ = st.columns(3)
batch = c1.number_input(
    "Batch size (0 = the default)", 0, 1024, d.train_batch_size, key="settings_batch"
)
max_steps = c2.number_input(
    "Max training steps (0 = no limit)", 0, 1_000_000, d.train_max_steps, key="settings_steps"
)

b1, b2 = st.columns(2)
if b1.button("Save settings", type="primary", key="settings_save"):
    new = StudioSettings(
        llm=LLMSettings(
            provider=provider,
            base_url=base_url.strip(),
            model=model.strip(),
            api_key_env=key_env,
            local_model=local_model,
        ),
        base_model=base_model.strip(),
        device=device,
        defaults=RunDefaults(
            generate_per_chunk=int(per_chunk),
            generate_limit_chunks=int(limit_chunks),
            train_epochs=int(epochs),
            train_batch_size=int(batch),
            train_max_steps=int(max_steps),
        ),
        general_dir=general_dir.strip(),
    )
    with user_errors("Could not save the settings"):
        if new.general_dir:
            check_data_path(new.general_dir, default_workspace_path())
        check_llm(new.llm)
        path = save_settings(ws, new)
        st.success(f"Saved to {path.name} in the workspace.")
if b2.button("Use small demo values", key="settings_demo_values"):
    with user_errors("Could not save the settings"):
        save_settings(
            ws,
            StudioSettings(
                llm=current.llm,
                base_model=current.base_model,
                device=current.device,
                defaults=DEMO_DEFAULTS,
                general_dir=current.general_dir,
            ),
        )
        # Forget the edited widget values so the inputs show the saved ones.
        for k in (
            "settings_per_chunk",
            "settings_limit",
            "settings_epochs",
            "settings_batch",
            "settings_steps",
        ):
            st.session_state.pop(k, None)
        st.rerun()
