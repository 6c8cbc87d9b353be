"""Generic questions are dropped with their reasons, over real HTTP (the real `openai` client
against tests/fake_openai.py) and the real base model: generic wording by the junk rules, and
a question that many chunks of its document answer about equally by the specificity filter."""

from __future__ import annotations

import json

import pytest

from core import pairs
from core.generation.filters import FilterSettings, junk_reason
from core.generation.pipeline import GenerateSettings, generate
from core.generation.prompts import template_phrases
from tests.fake_openai import FakeOpenAI, passage_of

GENERIC_WORDING = "What are the key components of this chapter on Rust?"
# The sample chapter is about references throughout: every chunk answers this about as well.
BROAD = "What does Rust say about references?"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _three_questions(messages: list[dict[str, str]]) -> str:
    prompt = messages[-1]["content"]
    if "Rate a search question" in prompt:
        return json.dumps({"relevance": 5, "accuracy": 5, "clarity": 5})
    # Words from the middle of the chunk: text no other (overlapping) window holds.
    words = passage_of(prompt).split()
    concrete = "What is meant by " + " ".join(words[40:52]).strip(".,:;") + "?"
    return json.dumps({"questions": [concrete, GENERIC_WORDING, BROAD]})


@pytest.mark.parametrize(
    "query",
    [
        "What is the main topic of the syllabus?",
        "What are the key concepts covered here?",
        "Can you summarize the grading policy?",
        "What is this about?",
    ],
)
def test_generic_wording_is_junk(query):
    why = junk_reason(query, "simple", "", template_phrases())
    assert why is not None and why.startswith(("generic wording", "about the passage itself"))


def test_concrete_real_questions_pass_the_junk_rules():
    for q in (
        "When is the second midterm?",
        "How many credits is this course?",
        "What are the types of homework in this class?",
        "Are late assignments accepted for partial credit?",
    ):
        assert junk_reason(q, "simple", "", template_phrases()) is None, q


def _three_per_chunk(fake, limit_chunks: int, **filters) -> GenerateSettings:
    """Three `simple` questions a chunk from the fake endpoint; round trip and judge off, so
    the specificity filter alone decides the broad question."""
    return GenerateSettings(
        provider="openai",
        base_url=fake.base_url,
        kinds=("simple",),
        per_chunk={"simple": 3},
        limit_chunks=limit_chunks,
        max_retries=1,
        timeout_s=5.0,
        filters=FilterSettings(roundtrip_k=0, min_judge_score=0, **filters),
    )


def test_generic_questions_are_dropped_with_reasons_and_stored(sample_ws, fake):
    fake.answer = _three_questions
    settings = _three_per_chunk(fake, limit_chunks=3)
    summary = generate(sample_ws, settings)
    rows = pairs.list_pairs(sample_ws)
    by_query: dict[str, list[dict]] = {}
    for r in rows:
        by_query.setdefault(r["query"], []).append(r)

    wording = by_query[GENERIC_WORDING]
    assert all(r["status"] == "dropped" for r in wording)
    assert all(r["reason"].startswith("junk: generic wording ('key components')") for r in wording)
    broad = by_query[BROAD]
    assert broad[0]["status"] == "dropped"
    assert broad[0]["reason"].startswith("generic: 3 other chunks of its document answer it")
    concrete = [r for r in rows if r["query"] not in (GENERIC_WORDING, BROAD)]
    assert len(concrete) == 3
    assert all(r["status"] == "pending" and "specificity" in r["reason"] for r in concrete), [
        (r["status"], r["reason"]) for r in concrete
    ]
    assert pairs.drop_reasons(sample_ws)["generic"] >= 1
    assert summary["funnel"]["generic"]["dropped"] >= 1
    assert summary["dropped_by_reason"]["generic"] == pairs.drop_reasons(sample_ws)["generic"]


def test_the_specificity_filter_can_be_turned_off(sample_ws, fake):
    fake.answer = _three_questions
    settings = _three_per_chunk(fake, limit_chunks=1, min_specificity=0)
    generate(sample_ws, settings)
    kept = [r["query"] for r in pairs.list_pairs(sample_ws) if r["status"] != "dropped"]
    assert BROAD in kept
