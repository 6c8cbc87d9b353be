"""The OpenAI-compatible path over real HTTP: the real `openai` client against tests/fake.py.

Each test asserts what the workspace holds afterwards: pairs with positives, judge and
round-trip fields, and per-chunk errors in generation_log.
"""

from __future__ import annotations

import json

import pytest

from core.cli import main as cli_main
from core.generation.pipeline import GenerationError, generate
from core.generation.providers import (
    AnswerFormatError,
    OpenAIWriter,
    parse_json_answer,
    questions_from_json,
)
from tests.fake_openai import FakeOpenAI
from tests.gen_helpers import generate_openai, openai_settings


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _fast_writer(fake, timeout_s=5.0, retries=2, concurrency=4) -> OpenAIWriter:
    """A writer whose client retries `retries` times with the openai client's own backoff
    (0.5 s, 1 s, ... with jitter) or the server's Retry-After."""
    return OpenAIWriter(
        model="fake",
        base_url=fake.base_url,
        concurrency=concurrency,
        timeout_s=timeout_s,
        max_retries=retries,
    )


def _rows(ws, sql, args=()):
    with ws.connect() as conn:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]


def test_parse_json_answer_is_defensive():
    assert parse_json_answer('```json\n{"questions": ["a?"]}\n```') == {"questions": ["a?"]}
    assert parse_json_answer('Sure! {"questions": ["a?", "b?",]} Hope it helps.') == {
        "questions": ["a?", "b?"]
    }
    assert questions_from_json([{"question": "x?"}, "y?"]) == ["x?", "y?"]
    with pytest.raises(AnswerFormatError, match="not JSON"):
        parse_json_answer("no json here")
    with pytest.raises(AnswerFormatError, match="questions"):
        questions_from_json({"answer": 42})


def test_normal_answers_store_pairs_and_rerun_skips(sample_ws, fake):
    summary = generate(sample_ws, openai_settings(fake))
    assert summary["errors"] == 0 and summary["kept"] >= 1
    pairs = _rows(sample_ws, "SELECT * FROM pairs")
    assert len(pairs) == summary["kept"] + summary["dropped"] == 3  # 1 question x 3 chunks
    # The fake's questions: two name their passage, one ("particular type for the life of that
    # reference") fits three other chunks of its document as well and is dropped as generic.
    assert summary["kept"] == 2 and summary["dropped_by_reason"] == {"generic": 1}
    for p in pairs:
        assert p["origin"] == "openai:gpt-4o-mini" and p["kind"] == "simple"
        assert p["roundtrip_rank"] >= 1
        if p["reason"].startswith("kept:"):
            assert p["status"] == "pending"  # awaits review
        else:
            assert p["reason"].startswith("generic:") and p["status"] == "dropped"
        n_pos = _rows(
            sample_ws, "SELECT COUNT(*) AS n FROM pair_positives WHERE pair_id = ?", (p["id"],)
        )[0]["n"]
        assert n_pos >= 1
    kept = [p for p in pairs if p["status"] == "pending"]
    # The fake judge answers relevance 5, accuracy 4, clarity 5.
    assert all(p["judge_score"] == pytest.approx(14 / 3, abs=0.01) for p in kept)
    assert all(p["judge_accuracy"] == 4 for p in kept)
    log = _rows(sample_ws, "SELECT * FROM generation_log")
    assert len(log) == 3 and {r["status"] for r in log} == {"done"}

    n_requests = len(fake.requests)
    again = generate(sample_ws, openai_settings(fake))
    assert again["chunks_skipped"] == 3 and again["kept"] == again["dropped"] == 0
    assert len(fake.requests) == n_requests  # nothing asked twice
    assert len(_rows(sample_ws, "SELECT id FROM pairs")) == 3


class _WriteAheadProbe:
    """Passes answers through to a writer; records, as each question-writing call starts,
    how many chunks the workspace has logged as written (judge calls are not recorded)."""

    def __init__(self, inner: OpenAIWriter, ws) -> None:
        self.inner, self.name, self.structured = inner, inner.name, inner.structured
        self.ws = ws
        self.logged_at_start: list[int] = []

    def answer(self, conversations, max_tokens=256):
        if "Rate a search question" not in conversations[0][-1]["content"]:
            with self.ws.connect() as conn:
                n = conn.execute("SELECT COUNT(*) FROM generation_log").fetchone()[0]
            self.logged_at_start.append(n)
        return self.inner.answer(conversations, max_tokens)


def test_endpoint_fills_every_slot_writes_ahead_and_never_exceeds_concurrency(sample_ws, fake):
    # A served LLM answers after a latency: a batch must hold a request for every slot (one
    # chunk a batch would keep 1 of 3 busy) and the next batch is written while this one is
    # filtered, judged and stored, yet requests at once never exceed the concurrency setting.
    fake.set("normal", latency=0.3)
    probe = _WriteAheadProbe(_fast_writer(fake, concurrency=3), sample_ws)
    s = openai_settings(fake, limit_chunks=12, batch_chunks=1, concurrency=3, judge="llm")
    summary = generate(sample_ws, s, writer=probe)
    assert fake.max_in_flight == 3
    # 4 batches of 3 chunks; batch k (k >= 1) starts before batch k-1 is stored.
    assert len(probe.logged_at_start) == 4
    assert all(n < 3 * k for k, n in enumerate(probe.logged_at_start) if k >= 1)
    assert summary["errors"] == 0 and summary["chunks_processed"] == 12
    assert summary["kept"] + summary["dropped"] == len(_rows(sample_ws, "SELECT id FROM pairs"))
    log = _rows(sample_ws, "SELECT status FROM generation_log")
    assert len(log) == 12 and {r["status"] for r in log} == {"done"}
    judged = [r for r in fake.requests if "Rate a search question" in str(r["messages"])]
    assert judged  # the LLM judge ran beside the writing, within the same slots


def test_all_llm_kinds_multi_hop_keeps_every_supporting_chunk(sample_ws, fake):
    kinds = ("multi-hop", "structural", "contextual")
    summary = generate(sample_ws, openai_settings(fake, kinds=kinds, limit_chunks=2, per_chunk={}))
    assert summary["errors"] == 0
    rows = _rows(
        sample_ws,
        "SELECT p.kind, COUNT(pp.chunk_id) AS n FROM pairs p"
        " JOIN pair_positives pp ON pp.pair_id = p.id GROUP BY p.id",
    )
    assert {r["kind"] for r in rows} == set(kinds)
    assert all(r["n"] >= 2 for r in rows if r["kind"] == "multi-hop")
    assert all(r["n"] == 1 for r in rows if r["kind"] != "multi-hop")
    prompts = [m["messages"][-1]["content"] for m in fake.requests]
    assert any("Passage 2:" in p for p in prompts)  # the related chunk was shown
    assert any("Section path:" in p for p in prompts) and any(
        "Text just before" in p for p in prompts
    )


def test_malformed_json_records_errors_and_keeps_earlier_pairs(sample_ws, fake):
    generate(sample_ws, openai_settings(fake, limit_chunks=2))
    before = _rows(sample_ws, "SELECT id, query, status FROM pairs ORDER BY id")
    fake.set("malformed")
    with pytest.raises(GenerationError, match="not JSON"):
        generate(sample_ws, openai_settings(fake, limit_chunks=4))
    assert _rows(sample_ws, "SELECT id, query, status FROM pairs ORDER BY id") == before
    errors = _rows(sample_ws, "SELECT chunk_id, error FROM generation_log WHERE status='error'")
    assert len(errors) == 2 and all("not JSON" in e["error"] for e in errors)


def test_rate_limit_honours_retry_after_then_succeeds(sample_ws, fake):
    import time

    fake.set("rate_limit", times=2, retry_after=1.5)
    writer = _fast_writer(fake)
    answer, waited = writer.answer, []

    def timed(conversations, max_tokens=256):
        started = time.perf_counter()
        out = answer(conversations, max_tokens)
        waited.append(time.perf_counter() - started)
        return out

    writer.answer = timed
    settings = openai_settings(fake, limit_chunks=1, judge="heuristic")  # one request per chunk
    summary = generate(sample_ws, settings, writer=writer)
    assert summary["errors"] == 0 and summary["kept"] + summary["dropped"] == 1
    # Two 429s, then the answer: the client sent the same request again.
    assert len(fake.requests) == 3 and fake.requests[0] == fake.requests[2]
    # The server's Retry-After (2 x 1.5 s), not the client's shorter first backoffs (0.5 s, 1 s).
    assert 3.0 <= waited[0] < 6.0
    assert len(_rows(sample_ws, "SELECT id FROM pairs")) == 1


def test_timeouts_are_retried_then_recorded(sample_ws, fake):
    fake.set("slow", delay=2.0)
    writer = _fast_writer(fake, timeout_s=0.3, retries=1)
    with pytest.raises(GenerationError, match="timed out"):
        generate(sample_ws, openai_settings(fake, limit_chunks=1), writer=writer)
    assert len(fake.requests) == 2  # first try + one retry by the client
    errors = _rows(sample_ws, "SELECT error FROM generation_log WHERE status='error'")
    assert len(errors) == 1 and "timed out; gave up after 2 attempts" in errors[0]["error"]
    assert _rows(sample_ws, "SELECT id FROM pairs") == []


def test_server_errors_are_retried_then_recorded(sample_ws, fake):
    fake.set("error500")
    writer = _fast_writer(fake, retries=1)
    with pytest.raises(GenerationError, match="HTTP 500"):
        generate(sample_ws, openai_settings(fake, limit_chunks=2), writer=writer)
    assert len(fake.requests) == 4  # 2 chunks x 2 attempts
    errors = _rows(sample_ws, "SELECT error FROM generation_log WHERE status='error'")
    assert len(errors) == 2
    assert all(e["error"] == "server error HTTP 500; gave up after 2 attempts" for e in errors)


def test_endpoint_dying_halfway_keeps_finished_pairs_and_resumes(sample_ws, fake):
    # One request at a time, one chunk a batch, no LLM judge: requests go in chunk order, so
    # the first 2 chunks' questions are answered and every later request fails.
    fake.set("die_after", ok=2)
    writer = _fast_writer(fake, retries=0, concurrency=1)
    s = openai_settings(fake, limit_chunks=4, batch_chunks=1, concurrency=1, judge="heuristic")
    summary = generate(sample_ws, s, writer=writer)
    assert summary["errors"] == 2 and summary["kept"] + summary["dropped"] == 2
    log = {r["chunk_id"]: r["status"] for r in _rows(sample_ws, "SELECT * FROM generation_log")}
    assert sorted(log.values()) == ["done", "done", "error", "error"]
    fake.set("normal")
    resumed = generate(sample_ws, s, writer=_fast_writer(fake))
    assert resumed["chunks_skipped"] == 2 and resumed["errors"] == 0
    statuses = {r["status"] for r in _rows(sample_ws, "SELECT status FROM generation_log")}
    assert statuses == {"done"}
    assert len(_rows(sample_ws, "SELECT id FROM pairs")) == 4


def test_cli_generate_json_then_garbage_endpoint_fails_cleanly(sample_ws, fake, capsys):
    rc = generate_openai(sample_ws, fake.base_url, "simple,ict", 2, "--json")
    out = capsys.readouterr()
    assert rc == 0, out.err
    payload = json.loads(out.out)
    assert payload["kept"] >= 1 and "dropped_by_reason" in payload
    assert "[2/2 chunks]" in out.err
    before = _rows(sample_ws, "SELECT id, query, status FROM pairs ORDER BY id")

    fake.set("garbage")
    rc = generate_openai(sample_ws, fake.base_url, "simple", 4)
    err = capsys.readouterr().err
    assert rc != 0
    assert "embstudio generate: error:" in err and "failed" in err
    assert _rows(sample_ws, "SELECT id, query, status FROM pairs ORDER BY id") == before


def test_naming_an_endpoint_without_kinds_writes_its_questions(sample_ws, fake, capsys):
    args = ["generate", str(sample_ws.root), "--provider", "openai", "--base-url", fake.base_url]
    rc = cli_main([*args, "--limit-chunks", "2", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    payload = json.loads(out.out)
    assert payload["llm_questions"] >= 1 and fake.requests  # the endpoint was asked
    assert {"simple", "ict"} <= set(payload["by_kind"])
    assert "kinds simple,ict" in out.err
    # Kinds that need no writer, with an endpoint named: refused before any request.
    before = len(fake.requests)
    rc = cli_main([*args, "--kinds", "ict,keywords", "--limit-chunks", "2"])
    err = capsys.readouterr().err
    assert rc != 0 and "an endpoint writes LLM kinds only" in err
    assert len(fake.requests) == before


def test_rerun_resumes_per_writer_and_can_write_again(sample_ws, fake, capsys):
    generate(sample_ws, openai_settings(fake))
    writers = {r["writer"] for r in _rows(sample_ws, "SELECT writer FROM generation_log")}
    assert writers == {"openai:gpt-4o-mini"}
    args = ["generate", str(sample_ws.root), "--kinds", "simple", "--limit-chunks", "3"]
    # The same writer again: nothing to do, and the progress line and summary say why.
    n = len(fake.requests)
    assert cli_main([*args, "--provider", "openai", "--base-url", fake.base_url]) == 0
    out = capsys.readouterr()
    assert "skipped 3 already written by this writer" in out.err  # the progress line
    assert "3 skipped as already written" in out.out and "--write-again" in out.out
    assert len(fake.requests) == n
    # Another model is another writer: it writes for the same chunks (the same model behind a
    # new URL resumes: tests/reliability/test_llm_faults.py).
    with FakeOpenAI() as other:
        other_model = ["--provider", "openai", "--base-url", other.base_url, "--model", "m2"]
        assert cli_main([*args, *other_model]) == 0
        assert len(other.requests) >= 3
    capsys.readouterr()
    # --write-again makes the first writer write once more.
    assert (
        cli_main([*args, "--provider", "openai", "--base-url", fake.base_url, "--write-again"]) == 0
    )
    assert len(fake.requests) >= n + 3
    log = _rows(sample_ws, "SELECT writer, COUNT(*) AS n FROM generation_log GROUP BY writer")
    assert sorted(r["n"] for r in log) == [3, 3]


def test_example_questions_reach_every_prompt_and_never_become_pairs(
    sample_ws, fake, tmp_path, capsys
):
    from core.generation.examples import load_examples

    examples = ["When is the second midterm?", "How many credits is this course?"]
    path = tmp_path / "examples.txt"
    path.write_text("\n".join(examples) + "\n\n")
    writer_asks = fake.answer
    # The writer copies an example once: that question is dropped as junk, never stored.
    fake.answer = lambda messages: '{"questions": ["When is the second midterm?"]}'
    args = ["generate", str(sample_ws.root), "--provider", "openai", "--base-url", fake.base_url]
    args += ["--kinds", "simple", "--limit-chunks", "1", "--judge", "none"]
    assert cli_main([*args, "--examples", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] == examples and out["dropped_by_reason"] == {"junk": 1}
    assert load_examples(sample_ws) == examples  # stored for later runs
    fake.answer = writer_asks
    assert cli_main([*args, "--limit-chunks", "3"]) == 0  # no --examples: the stored ones
    prompts = [m["content"] for r in fake.requests for m in r["messages"] if m["role"] == "user"]
    assert len(prompts) >= 3 and all(all(e in p for e in examples) for p in prompts)
    stored = {
        r["query"] for r in _rows(sample_ws, "SELECT query FROM pairs WHERE status != 'dropped'")
    }
    assert stored and not stored & set(examples)
    # '-' clears them: the next prompt has no example block.
    fake.set("normal")
    assert cli_main([*args, "--limit-chunks", "4", "--examples", "-"]) == 0
    last = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "user"][-1]
    assert load_examples(sample_ws) == [] and "real readers" not in last and "\n\n\n" not in last


def test_examples_file_formats_and_limits(tmp_path):
    from core.generation.examples import ExamplesError, read_examples_file

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"query": "What is due on Friday?"}\n{"question": "Who grades the labs?"}\n')
    assert read_examples_file(jsonl) == ["What is due on Friday?", "Who grades the labs?"]
    many = tmp_path / "many.txt"
    many.write_text("\n".join(f"Question number {i}?" for i in range(9)))
    with pytest.raises(ExamplesError, match="at most 8"):
        read_examples_file(many)
