"""The demo's hand-written question set (assets/samples/questions/): a well-formed BEIR folder
whose every relevant passage really holds its question's answer, covering every chapter."""

from __future__ import annotations

import csv
import importlib.util
import json

from core.demo import DEMO_FILES, QUESTIONS_DIR, SAMPLES_DIR
from core.evaluation.datasets import beir_set


def _rows(name: str) -> list[dict]:
    lines = (QUESTIONS_DIR / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _qrels() -> list[dict]:
    with (QUESTIONS_DIR / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _build_module():
    spec = importlib.util.spec_from_file_location("build_questions", QUESTIONS_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_folder_is_a_well_formed_beir_set():
    corpus, queries, qrels = _rows("corpus.jsonl"), _rows("queries.jsonl"), _qrels()
    assert 40 <= len(queries) <= 60
    assert list(qrels[0]) == ["query-id", "corpus-id", "score"]
    assert len({p["_id"] for p in corpus}) == len(corpus)
    assert len({q["_id"] for q in queries}) == len(queries)
    for p in corpus:
        assert set(p) == {"_id", "title", "text", "document"} and p["title"] == ""
        assert p["document"] in DEMO_FILES
        assert 100 <= len(p["text"].split()) <= 200
    for q in queries:
        assert 5 <= len(q["text"].split()) <= 12, q["text"]
        assert q["metadata"]["document"] in DEMO_FILES
    judged = {r["query-id"] for r in qrels}
    assert judged == {q["_id"] for q in queries}  # every question has its answer passage
    assert {r["corpus-id"] for r in qrels} <= {p["_id"] for p in corpus}
    # What the pipeline evaluates: 60 questions, each scored among its own chapter's passages.
    evalset = beir_set(QUESTIONS_DIR, "test", "document")
    assert len(evalset.queries) == len(queries)
    assert set(evalset.query_groups.values()) == set(DEMO_FILES)


def test_every_relevant_passage_contains_its_answer_and_every_other_does_not():
    build = _build_module()
    corpus = {p["_id"]: p for p in _rows("corpus.jsonl")}
    queries = {q["_id"]: q for q in _rows("queries.jsonl")}
    relevant: dict[str, set[str]] = {}
    for r in _qrels():
        relevant.setdefault(r["query-id"], set()).add(r["corpus-id"])
        assert r["score"] == "1"
    for qid, q in queries.items():
        answer, document = q["metadata"]["answer"], q["metadata"]["document"]
        chapter = (SAMPLES_DIR / document).read_text(encoding="utf-8")
        assert answer in " ".join(build.words(chapter))  # copied from the chapter
        holding = {
            pid for pid, p in corpus.items() if p["document"] == document and answer in p["text"]
        }
        assert relevant[qid] == holding, qid  # every passage holding the answer, and only those
        for pid in relevant[qid]:
            assert answer in corpus[pid]["text"]


def test_every_chapter_has_questions():
    queries = _rows("queries.jsonl")
    per_document = {d: sum(q["metadata"]["document"] == d for q in queries) for d in DEMO_FILES}
    assert min(per_document.values()) >= 10, per_document
    corpus_documents = {p["document"] for p in _rows("corpus.jsonl")}
    assert corpus_documents == set(DEMO_FILES)


def test_the_files_are_what_build_py_makes():
    build = _build_module()
    corpus_text, qrels_text = build.render(*build.build())
    assert (QUESTIONS_DIR / "corpus.jsonl").read_text(encoding="utf-8") == corpus_text
    assert (QUESTIONS_DIR / "qrels" / "test.tsv").read_text(encoding="utf-8") == qrels_text


def test_the_readme_says_how_they_were_made_and_the_licence():
    readme = (QUESTIONS_DIR / "README.md").read_text(encoding="utf-8")
    assert "Written by hand for this repository" in readme
    assert "every** passage of its chapter that contains its" in readme
    assert "MIT" in readme and "SOURCES.md" in readme
