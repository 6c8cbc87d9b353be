"""Extending generation in one place: a new query kind is one kind object and one
`register_kind` line; a new question writer is one provider and one `register_provider` line.
Each test adds its entry, proves every reader (pipeline, CLI, pages) picks it up, and removes it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from core.cli import main as cli_main
from core.generation import kinds
from core.generation.pipeline import GenerateSettings, GenerationError, generate
from core.generation.prompts import PROMPTS_DIR
from core.generation.provider_registry import (
    Provider,
    make_writer,
    provider_names,
    register_provider,
    unregister_provider,
)
from core.generation.providers import Answer
from core.generation.types import Candidate
from tests.fake_openai import FakeOpenAI
from tests.helpers import page_app


def _rows(ws, sql):
    with ws.connect() as conn:
        return [dict(r) for r in conn.execute(sql)]


def _opening_words(selected, all_chunks, n, settings) -> list[Candidate]:
    """A pseudo kind: the chunk's first eight words are its query."""
    return [
        Candidate(
            query=" ".join(c["text"].split()[:8]),
            kind="opening",
            chunk_id=c["id"],
            positives=[c["id"]],
            origin="pseudo:opening",
        )
        for c in selected
    ]


@pytest.fixture
def opening_kind():
    kinds.register_kind(kinds.PseudoKind("opening", _opening_words))
    yield
    kinds.unregister_kind("opening")


def test_a_new_pseudo_kind_is_one_registration(sample_ws, opening_kind, capsys):
    assert "opening" in kinds.kind_names() and not kinds.needs_writer("opening")
    summary = generate(sample_ws, GenerateSettings(kinds=("opening",), limit_chunks=3))
    rows = _rows(sample_ws, "SELECT kind, origin, roundtrip_rank FROM pairs")
    assert len(rows) == 3 and {r["kind"] for r in rows} == {"opening"}
    assert all(r["roundtrip_rank"] >= 1 for r in rows)  # filtered like any pseudo kind
    assert summary["by_kind"]["opening"]["kept"] + summary["by_kind"]["opening"]["dropped"] == 3
    log = _rows(sample_ws, "SELECT kind, writer, status FROM generation_log")
    assert {(r["kind"], r["writer"], r["status"]) for r in log} == {("opening", "pseudo", "done")}
    # The CLI takes it too, and resumes it like the built-in kinds.
    rc = cli_main(["generate", str(sample_ws.root), "--kinds", "opening", "--limit-chunks", "3"])
    assert rc == 0 and "3 skipped as already written" in capsys.readouterr().out


def test_a_new_pseudo_kind_gets_the_pseudo_preset_and_counts_as_pseudo_on_the_train_page(
    opening_kind,
):
    from core.training.config import PSEUDO_KINDS, TrainConfig

    assert TrainConfig().preset_for({"opening": 6, "simple": 4}) == "pseudo"
    assert "opening" in PSEUDO_KINDS and "simple" not in PSEUDO_KINDS


def test_a_new_writer_kind_is_one_registration_and_its_templates(sample_ws, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, prompts)
    (prompts / "definition.txt").write_text(
        'Passage:\n"""\n{passage}\n"""\n\n{examples}\n'
        "Write {n} different questions asking what a term this passage defines means.\n"
        'Reply with JSON only: {{"questions": ["..."]}}\n'
    )
    kinds.register_kind(kinds.WriterKind("definition"))
    try:
        assert kinds.needs_writer("definition")
        with FakeOpenAI() as fake:
            settings = GenerateSettings(
                provider="openai",
                base_url=fake.base_url,
                kinds=("definition",),
                limit_chunks=2,
                judge="heuristic",
                prompts_dir=str(prompts),
            )
            summary = generate(sample_ws, settings)
            asked = [r["messages"][-1]["content"] for r in fake.requests]
        assert summary["errors"] == 0 and len(asked) == 2
        assert all("what a term this passage defines means" in p for p in asked)
        rows = _rows(sample_ws, "SELECT kind, origin FROM pairs")
        assert rows and {(r["kind"], r["origin"]) for r in rows} == {
            ("definition", "openai:gpt-4o-mini")
        }
    finally:
        kinds.unregister_kind("definition")


class _EchoWriter:
    """A writer that answers every prompt with one fixed JSON question."""

    structured = True

    def __init__(self, model: str) -> None:
        self.name = f"echo:{model}"

    def answer(self, conversations, max_tokens=256):
        question = "What does the borrow checker do with two mutable references?"
        return [Answer(text=json.dumps({"questions": [question]})) for _ in conversations]


@pytest.fixture
def echo_provider():
    register_provider(
        Provider(
            name="echo",
            label="Echo (test writer)",
            help="answers every prompt with the same question",
            factory=lambda options: _EchoWriter(options.model or "fixed"),
            fields=("model",),
            noun="an echo",
        )
    )
    yield
    unregister_provider("echo")


def test_a_new_provider_is_one_registration(sample_ws, echo_provider, capsys):
    from core.settings import LLMSettings, StudioSettings, save_settings

    assert "echo" in provider_names()
    assert make_writer("echo").name == "echo:fixed"
    # GenerateSettings.validate reads the registry: its noun and its LLM-kinds rule.
    with pytest.raises(GenerationError, match="an echo writes LLM kinds only"):
        GenerateSettings(provider="echo", kinds=("ict",)).validate()
    # The CLI's --provider choices and the workspace's saved provider both reach it.
    args = ["generate", str(sample_ws.root), "--provider", "echo", "--model", "m1"]
    assert cli_main([*args, "--kinds", "simple", "--limit-chunks", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["origin"] == "echo:m1" and payload["llm_questions"] == 2
    save_settings(sample_ws, StudioSettings(llm=LLMSettings(provider="echo", model="saved")))
    assert cli_main(["generate", str(sample_ws.root), "--limit-chunks", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["origin"] == "echo:saved"
    # The Settings page lists it with its label, and shows only the inputs it reads.
    at = page_app(sample_ws, "7_Settings.py").run()
    assert not at.exception
    radio = at.radio(key="settings_provider")
    assert radio.value == "echo" and "Echo (test writer)" in radio.options
    assert not at.text_input(key="settings_llm_model").disabled
    assert at.text_input(key="settings_base_url").disabled
    # The Pairs page offers it, starting from the saved model.
    at = page_app(sample_ws, "2_Pairs.py").run()
    assert not at.exception
    assert at.radio(key="pairs_provider").value == "echo"
    assert at.text_input(key="pairs_model").value == "saved"
    assert not [t for t in at.text_input if t.key == "pairs_base_url"]
