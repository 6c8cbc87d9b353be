"""Filters: junk rules, round-trip and duplicate drops with their reasons (real base model)."""

from __future__ import annotations

import numpy as np
import pytest

from core.documents import list_chunks
from core.generation import filters
from core.generation.filters import FilterSettings, clean_question, junk_reason
from core.generation.pipeline import GenerateSettings, generate
from core.generation.prompts import template_phrases
from core.generation.providers import Answer
from core.generation.types import Candidate
from core.models import DEFAULT_BASE_MODEL, load_sentence_model
from tests.gen_helpers import copy_workspace, prepared_workspace

PASSAGE = (
    "Rust enforces that at any given time you can have either one mutable reference or any "
    "number of immutable references. References must always be valid."
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What's the next question?", "about the passage itself"),
        ("What is the answer to this question?", "about the passage itself"),
        ("What would you like to know about this passage?", "about the passage itself"),
        ("I'm sorry, but I cannot write a question for that.", "refusal"),
        ("Write a question that this passage answers.", "echoes the prompt"),
        ("Why?", "too short"),
        ("What " + "very " * 45 + "long?", "too long"),
        ("Rust has rules about references and how they are borrowed", "not a question"),
        ("What what what what what what is it?", "repetitive"),
        (
            "at any given time you can have either one mutable reference or any number",
            "copies the passage",
        ),
    ],
)
def test_junk_rules(query, expected):
    why = junk_reason(query, "simple", PASSAGE, template_phrases())
    assert why is not None and why.startswith(expected), why


def test_good_questions_and_pseudo_queries_pass():
    phrases = template_phrases()
    for q in (
        "How many mutable references to a value can exist at the same time in Rust?",
        "Must references in Rust always be valid?",
    ):
        assert junk_reason(q, "simple", PASSAGE, phrases) is None
    # Pseudo-queries are statements or keywords: only length rules apply.
    assert junk_reason("References must always be valid.", "ict", PASSAGE, phrases) is None
    assert junk_reason("mutable reference borrow", "keywords", PASSAGE, phrases) is None
    assert junk_reason("borrow", "keywords", PASSAGE, phrases).startswith("too short")


def test_clean_question_takes_the_first_question():
    assert clean_question('1. "What is a borrow? It is a reference."\nMore') == "What is a borrow?"
    assert clean_question("Question: How are references checked?") == (
        "How are references checked?"
    )


def test_roundtrip_and_duplicate_drop_with_reasons():
    model = load_sentence_model(DEFAULT_BASE_MODEL)
    chunks = [
        "Rust references let a function use a value without taking ownership of it.",
        "Mutable references allow changing a borrowed value, but only one may exist at a time.",
        "A panic stops the program and unwinds the stack when an unrecoverable error happens.",
        "The test runner executes tests in parallel threads unless told to use one thread.",
    ]
    emb = model.encode(chunks, normalize_embeddings=True)
    cands = [
        Candidate("How does a Rust function use a value without owning it?", "simple", 0, [0], "t"),
        # Written for chunk 3 but about panics (chunk 2): fails the round trip.
        Candidate("What happens to the stack when a program panics?", "simple", 3, [3], "t"),
        Candidate("How can a Rust function use a value without owning it?", "simple", 0, [0], "t"),
        Candidate("Can two mutable references to one value exist at once?", "simple", 1, [1], "t"),
    ]
    q_emb = model.encode([c.query for c in cands], normalize_embeddings=True)
    filters.apply_roundtrip(cands, q_emb, [0, 1, 2, 3], emb, top_k=1)
    assert cands[1].dropped and cands[1].reason.startswith("roundtrip: source chunk ranked")
    assert cands[1].roundtrip_rank > 1
    assert [c.roundtrip_rank for c in (cands[0], cands[3])] == [1, 1]
    index = filters.DuplicateIndex(0.9, emb.shape[1])
    index.apply(cands, q_emb)
    assert cands[2].dropped and cands[2].reason.startswith("duplicate: cosine")
    assert not cands[0].dropped and not cands[3].dropped


def test_roundtrip_applies_to_llm_questions_and_not_to_pseudo_queries_by_default():
    chunks = np.eye(3, dtype=np.float32)
    # Both queries point at chunk 2 while their source is chunk 0: rank 3 of 3.
    cands = [
        Candidate("Where does the scope of a reference end?", "simple", 0, [0], "t"),
        Candidate("The scope of a reference ends at its last use.", "ict", 0, [0], "pseudo:ict"),
    ]
    q_emb = np.tile(np.array([[0.1, 0.2, 0.97]], dtype=np.float32), (2, 1))
    fs = FilterSettings(roundtrip_k=1)
    filters.apply_roundtrip(cands, q_emb, [0, 1, 2], chunks, fs.roundtrip_k_for)
    assert cands[0].dropped and cands[0].reason == "roundtrip: source chunk ranked 3 (needs top 1)"
    assert not cands[1].dropped and cands[1].roundtrip_rank == 3  # rank kept for review
    strict = FilterSettings(roundtrip_k=1, pseudo_roundtrip_k=1)
    again = [Candidate(c.query, c.kind, 0, [0], c.origin) for c in cands]
    filters.apply_roundtrip(again, q_emb, [0, 1, 2], chunks, strict.roundtrip_k_for)
    assert all(c.dropped for c in again)


def test_heuristic_judge_scores_supported_questions_higher():
    good = Candidate("How many mutable references can exist at a time?", "simple", 0, [0], "t")
    invented = Candidate("Which GPU kernels does the compiler vectorise?", "simple", 0, [0], "t")
    g = filters.heuristic_judge(good, PASSAGE, cosine=0.6)
    b = filters.heuristic_judge(invented, PASSAGE, cosine=0.1)
    assert all(1 <= v <= 5 for v in (*g.values(), *b.values()))
    assert g["accuracy"] > b["accuracy"] and g["relevance"] > b["relevance"]


def test_pseudo_queries_get_no_judge_score():
    """No judge reads an inverse-cloze sentence, keywords or a heading: they carry no score
    (the review table shows none) and the keep threshold does not drop them."""
    kinds = ("simple", "ict", "keywords", "heading")
    cands = [Candidate("References must always be valid.", k, 0, [0], "t") for k in kinds]
    q_emb = np.tile(np.array([[0.0, 1.0]], dtype=np.float32), (len(cands), 1))
    ctx = filters.FilterContext(
        embedder=None,
        chunk_ids=[0],
        chunk_emb=np.array([[0.6, 0.8]], dtype=np.float32),
        passages={0: PASSAGE},
        phrases=(),
        dedup=None,
        writer=None,
        prompts_dir=None,
        examples=(),
    )
    filters._judge(cands, q_emb, FilterSettings(min_judge_score=5.0), "auto", ctx)
    llm, *pseudo = cands
    assert llm.judge is not None and llm.dropped and llm.reason.startswith("judge: score")
    assert all(c.judge is None and c.judge_score is None and not c.dropped for c in pseudo)


class _ScriptedWriter:
    """A question writer that answers from a script (what a junk-prone small model says)."""

    name = "scripted"
    structured = False

    def __init__(self, answers):
        self.answers = list(answers)

    def answer(self, conversations, max_tokens=256):
        return [Answer(text=self.answers.pop(0)) for _ in conversations]


def test_pipeline_stores_dropped_pairs_with_reasons(tmp_path_factory, tmp_path):
    ws = copy_workspace(prepared_workspace(tmp_path_factory.mktemp("t") / "ws"), tmp_path / "w")
    chunks = list_chunks(ws)
    first = chunks[0]["text"]
    words = first.split()
    on_topic = "What does " + " ".join(words[5:14]) + " mean?"
    writer = _ScriptedWriter([on_topic, "What's the next question?", on_topic])
    settings = GenerateSettings(
        kinds=("simple",),
        limit_chunks=3,
        judge="heuristic",
        # Round trip and specificity off: chunk 3's copy of chunk 1's question must reach the
        # duplicate check (the specificity filter would drop it first: it is not about chunk 3).
        filters=FilterSettings(roundtrip_k=len(chunks), min_specificity=0, min_judge_score=0),
    )
    summary = generate(ws, settings, writer=writer)
    with ws.connect() as conn:
        rows = [dict(r) for r in conn.execute("SELECT query, status, reason FROM pairs")]
    assert summary["kept"] == 1 and summary["dropped"] == 2
    assert summary["dropped_by_reason"] == {"junk": 1, "duplicate": 1}
    reasons = {r["reason"].split(":")[0] for r in rows if r["status"] == "dropped"}
    assert reasons == {"junk", "duplicate"}
    kept = [r for r in rows if r["status"] == "pending"]
    assert kept[0]["reason"].startswith("kept: round-trip rank")
    assert np.isclose(summary["funnel"]["junk"]["kept_share"], 2 / 3, atol=0.01)
