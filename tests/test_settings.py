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
    resolve_device,
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
def test_invalid_llm_settings(ws, change, message):
    llm = LLMSettings(provider="openai", **change)
    with pytest.raises(SettingsError, match=message):
        save_settings(ws, StudioSettings(llm=llm))


def test_unreadable_or_partial_file_falls_back(ws):
    settings_path(ws).write_text("{not json")
    assert load_settings(ws) == StudioSettings()
    settings_path(ws).write_text(json.dumps({"device": "cpu", "llm": {"model": "x", "new": 1}}))
    s = load_settings(ws)
    assert s.device == "cpu" and s.llm.model == "x"


def test_device_detection_matches_torch():
    import torch

    info = device_info()
    assert info["cpu_cores"] >= 1
    assert bool(info["gpus"]) == torch.cuda.is_available()
    assert resolve_device("auto") == info["detected"]
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="no usable GPU"):
            resolve_device("cuda")
