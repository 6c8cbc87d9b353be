"""core.settings: saved in the workspace, never with a key; keys come from env or secrets."""

import json

import pytest

from core.settings import (
    DEMO_DEFAULTS,
    LLMSettings,
    SettingsError,
    StudioSettings,
    api_key,
    device_info,
    load_settings,
    save_settings,
    settings_path,
)


def test_defaults_when_nothing_saved(ws):
    s = load_settings(ws)
    assert s.llm.provider == "local"
    assert s.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert s.device == "auto"


def test_round_trip_and_no_key_on_disk(ws, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-test-secret-123")
    s = StudioSettings(
        llm=LLMSettings(
            provider="openai", base_url="http://127.0.0.1:9/v1", model="m", api_key_env="MY_LLM_KEY"
        ),
        defaults=DEMO_DEFAULTS,
    )
    save_settings(ws, s)
    loaded = load_settings(ws)
    assert loaded == s
    assert api_key(loaded.llm) == "sk-test-secret-123"
    # The key exists only in the environment: no file in the workspace contains it.
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert b"sk-test-secret-123" not in path.read_bytes(), path


def test_key_from_secrets_when_env_missing(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = LLMSettings(provider="openai")
    assert api_key(llm) is None
    assert api_key(llm, {"OPENAI_API_KEY": "from-secrets"}) == "from-secrets"


def test_refuses_a_key_in_place_of_a_variable_name(ws):
    bad = StudioSettings(llm=LLMSettings(provider="openai", api_key_env="sk-abc/def+ghi"))
    with pytest.raises(SettingsError, match="name like OPENAI_API_KEY"):
        save_settings(ws, bad)
    assert not settings_path(ws).exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"base_url": "localhost:8000"}, "http"),
        ({"model": " "}, "model name is empty"),
    ],
)
def test_invalid_llm_settings(change, message):
    # The writer choice is checked against the generation layer's registry (settings, below
    # it, knows no provider); the Settings page checks before it saves.
    from core.generation.provider_registry import check_llm

    with pytest.raises(SettingsError, match=message):
        check_llm(LLMSettings(provider="openai", **change))


def test_a_new_workspace_writer_is_registered_and_bundled():
    from core.generation.bundled_llms import CATALOGUE
    from core.generation.provider_registry import check_llm

    check_llm(LLMSettings())  # raises when the defaults name no provider or no bundled model
    assert LLMSettings().local_model in CATALOGUE
    with pytest.raises(SettingsError, match="unknown provider 'nope'"):
        check_llm(LLMSettings(provider="nope"))


def test_unreadable_or_partial_file_falls_back(ws):
    settings_path(ws).write_text("{not json")
    assert load_settings(ws) == StudioSettings()
    settings_path(ws).write_text(json.dumps({"device": "cpu", "llm": {"model": "x", "new": 1}}))
    s = load_settings(ws)
    assert s.device == "cpu" and s.llm.model == "x"


def test_device_detection_matches_torch():
    import torch

    from core.devices import resolve_device

    info = device_info()
    assert info["cpu_cores"] >= 1
    assert bool(info["gpus"]) == torch.cuda.is_available()
    assert resolve_device("auto") == info["detected"]


# ---------------------------------------------------------------- every saved setting is used
# Each test saves one setting and shows the command and the page that start from it
# (core.settings.defaults_for is their one reader).


def _args(*argv: str):
    from core.cli import build_parser

    return build_parser().parse_args(list(argv))


def _save(ws, **changes) -> None:
    s = load_settings(ws)
    for name, value in changes.items():
        setattr(s, name, value)
    save_settings(ws, s)


def test_nothing_saved_changes_no_default(ws):
    from core.cli.generation_cmds import generate_settings
    from core.cli.training_cmds import build_config, mining_settings
    from core.generation.bundled_llms import DEFAULT_LOCAL_LLM
    from core.generation.pipeline import GenerateSettings
    from core.mining import MiningSettings
    from core.training.config import TrainConfig

    assert build_config(_args("train", str(ws.root))) == TrainConfig()
    assert mining_settings(ws, _args("mine", str(ws.root))) == MiningSettings()
    # The local provider's saved model is the default bundled writer (None names it too).
    assert generate_settings(ws, _args("generate", str(ws.root))) == GenerateSettings(
        timeout_s=60.0, model=DEFAULT_LOCAL_LLM
    )


def test_saved_writer_is_what_generate_and_the_pairs_page_use(ws):
    from core.cli.generation_cmds import generate_settings
    from tests.gen_helpers import ingest_sample
    from tests.helpers import page_app

    llm = LLMSettings(
        provider="openai", base_url="http://127.0.0.1:9/v1", model="m3", api_key_env="MY_KEY"
    )
    _save(ws, llm=llm)
    g = generate_settings(ws, _args("generate", str(ws.root)))
    assert (g.provider, g.base_url, g.model, g.api_key_env) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "m3",
        "MY_KEY",
    )
    assert g.kinds == ("simple", "ict")  # a named writer's questions, as on the page
    # Another provider on the command line does not take the saved endpoint.
    local = generate_settings(ws, _args("generate", str(ws.root), "--provider", "local"))
    assert (local.provider, local.base_url, local.model) == ("local", None, None)
    ingest_sample(ws)
    at = page_app(ws, "2_Pairs.py").run()
    assert not at.exception
    assert at.radio(key="pairs_provider").value == "openai"
    assert at.text_input(key="pairs_model").value == "m3"
    assert at.text_input(key="pairs_base_url").value == "http://127.0.0.1:9/v1"
    assert at.text_input(key="pairs_key_env").value == "MY_KEY"


def test_saved_generation_counts_reach_generate_and_the_pairs_page(ws):
    from core.cli.generation_cmds import generate_settings
    from core.settings import RunDefaults
    from tests.gen_helpers import ingest_sample
    from tests.helpers import page_app

    _save(ws, defaults=RunDefaults(generate_per_chunk=2, generate_limit_chunks=3))
    g = generate_settings(ws, _args("generate", str(ws.root)))
    assert g.per_chunk == {"ict": 2} and g.limit_chunks == 3
    given = generate_settings(ws, _args("generate", str(ws.root), "--limit-chunks", "5"))
    assert given.limit_chunks == 5  # an option given wins
    ingest_sample(ws)
    at = page_app(ws, "2_Pairs.py").run()
    assert at.number_input(key="pairs_per_chunk").value == 2
    assert at.number_input(key="pairs_limit").value == 3


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A workspace with a few curated SciFact pairs (the Train and Negatives pages need them)."""
    from core.store import Workspace
    from tests.training_helpers import small_scifact

    ws = Workspace.create(tmp_path_factory.mktemp("curated") / "ws")
    small_scifact(ws, n_queries=6, n_other=4, n_val=0)
    return ws.root


def _copy(curated, tmp_path):
    from tests.gen_helpers import copy_workspace

    return copy_workspace(curated, tmp_path / "ws")


def test_saved_base_model_reaches_every_step(curated, tmp_path):
    from core.cli.generation_cmds import generate_settings
    from core.cli.training_cmds import build_config, mining_settings
    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from tests.helpers import page_app

    ws = _copy(curated, tmp_path)
    folder = str(resolve_model(DEFAULT_BASE_MODEL))  # a local folder: another name, same model
    assert folder != DEFAULT_BASE_MODEL
    _save(ws, base_model=folder)
    assert build_config(_args("train", str(ws.root))).base_model == folder
    assert mining_settings(ws, _args("mine", str(ws.root))).model == folder
    assert generate_settings(ws, _args("generate", str(ws.root))).base_model == folder
    assert page_app(ws, "4_Train.py").run().selectbox(key="train_base").value == folder
    assert page_app(ws, "3_Negatives.py").run().selectbox(key="neg_model").value == folder
    assert page_app(ws, "5_Evaluate.py").run().text_input(key="ev_base_model").value == folder


def test_saved_device_and_run_defaults_reach_train_and_the_train_page(curated, tmp_path):
    from core.cli.training_cmds import build_config
    from core.settings import RunDefaults
    from tests.helpers import page_app

    ws = _copy(curated, tmp_path)
    _save(
        ws,
        device="cpu",
        defaults=RunDefaults(train_epochs=2, train_batch_size=8, train_max_steps=5),
    )
    cfg = build_config(_args("train", str(ws.root)))
    assert (cfg.device, cfg.epochs, cfg.batch_size, cfg.max_steps) == ("cpu", 2.0, 8, 5)
    assert build_config(_args("train", str(ws.root), "--batch-size", "4")).batch_size == 4
    at = page_app(ws, "4_Train.py").run()
    assert not at.exception
    assert at.selectbox(key="train_f_device").value == "cpu"
    assert at.number_input(key="train_epochs").value == 2.0
    assert at.number_input(key="train_batch").value == 8
    assert at.number_input(key="train_f_max_steps").value == 5


def test_settings_page_saves_what_the_commands_then_use(ws):
    from core.cli.training_cmds import build_config
    from tests.helpers import page_app

    at = page_app(ws, "7_Settings.py").run()
    assert not at.exception
    at.radio(key="settings_device").set_value("cpu")
    at.number_input(key="settings_steps").set_value(7)
    at.button(key="settings_save").click().run()
    assert not at.exception and any("Saved" in s.value for s in at.success)
    cfg = build_config(_args("train", str(ws.root)))
    assert cfg.device == "cpu" and cfg.max_steps == 7


def test_settings_page_names_the_general_set_only_inside_the_data_roots(ws, tmp_path, monkeypatch):
    from core.evaluation.datasets import general_set
    from tests.helpers import page_app
    from tests.playground_helpers import tiny_general_set

    monkeypatch.setenv("EMBSTUDIO_WORKSPACES_ROOT", str(ws.root))  # conftest widens it to /
    monkeypatch.setenv("EMBSTUDIO_DATA_ROOTS", str(tmp_path / "data"))
    inside = tiny_general_set(tmp_path / "data" / "general")
    outside = tiny_general_set(tmp_path / "elsewhere")
    at = page_app(ws, "7_Settings.py").run()
    at.text_input(key="settings_general_dir").set_value(str(outside))
    at.button(key="settings_save").click().run()
    assert any("EMBSTUDIO_DATA_ROOTS" in e.value for e in at.error)
    assert load_settings(ws).general_dir == ""

    at.text_input(key="settings_general_dir").set_value(str(inside))
    at.button(key="settings_save").click().run()
    assert not at.exception and any("Saved" in s.value for s in at.success)
    assert load_settings(ws).general_dir == str(inside)
    assert general_set(ws=ws).config["folder"] == str(inside.resolve())
    assert any(str(inside) in c.value for c in at.caption)  # where it comes from now


def test_settings_page_refuses_a_writer_endpoint_that_is_no_url(ws):
    from tests.helpers import page_app

    at = page_app(ws, "7_Settings.py").run()
    at.radio(key="settings_provider").set_value("openai").run()
    at.text_input(key="settings_base_url").set_value("localhost:8000")
    at.button(key="settings_save").click().run()
    assert any("must start with http" in e.value for e in at.error)
    assert not ws.settings_file.exists()
