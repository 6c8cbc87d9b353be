"""LLM endpoint faults (issue 9, case 2) beyond tests/generation/test_openai.py.

Each fault is followed by a rerun against a healthy endpoint: retries stay within the policy,
the error is clear, every pair made before the fault is still there unchanged, and the rerun
finishes the remaining chunks without asking again for the finished ones.
"""

from __future__ import annotations

import time

import pytest

from core.generation.pipeline import GenerateSettings, GenerationError, generate
from core.generation.providers import OpenAIWriter
from tests.fake_openai import FakeOpenAI
from tests.gen_helpers import generate_openai
from tests.reliability._fakes import FaultyOpenAI, closed_port

N_CHUNKS = 4
EMB: list = [None]  # the base model, loaded once for the module (generate() takes it as is)


@pytest.fixture(scope="module", autouse=True)
def _embedder():
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    EMB[0] = load_sentence_model(DEFAULT_BASE_MODEL)
    yield
    EMB[0] = None


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _settings(base_url: str, **kw) -> GenerateSettings:
    base = dict(
        provider="openai",
        base_url=base_url,
        kinds=("simple",),
        limit_chunks=N_CHUNKS,
        batch_chunks=1,
        judge="heuristic",  # one request per chunk: counts below are exact
        max_retries=1,
        timeout_s=5.0,
    )
    base.update(kw)
    return GenerateSettings(**base)


def _writer(base_url: str, retries: int = 2, timeout_s: float = 5.0) -> OpenAIWriter:
    """Retries are the openai client's own: backoff 0.5 s, 1 s, ... (jitter), or Retry-After."""
    return OpenAIWriter(
        model="fake", base_url=base_url, timeout_s=timeout_s, concurrency=1, max_retries=retries
    )


def _pairs(ws) -> list[tuple]:
    with ws.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT p.id, p.query, p.status, pp.chunk_id FROM pairs p"
                " JOIN pair_positives pp ON pp.pair_id = p.id ORDER BY p.id"
            )
        ]


def _log(ws) -> dict[int, str]:
    with ws.connect() as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT chunk_id, status FROM generation_log")}


def _rerun_completes(ws, before: list[tuple], fake: FakeOpenAI) -> None:
    """A healthy rerun keeps `before` verbatim and finishes the rest, one pair per chunk."""
    fake.set("normal")
    done_before = {c for c, s in _log(ws).items() if s == "done"}
    summary = generate(ws, _settings(fake.base_url), writer=_writer(fake.base_url), embedder=EMB[0])
    assert summary["errors"] == 0
    assert summary["chunks_skipped"] == len(done_before)
    assert len(fake.requests) == N_CHUNKS - len(done_before)  # finished chunks not asked again
    after = _pairs(ws)
    assert after[: len(before)] == before  # nothing lost or changed
    assert len(after) == N_CHUNKS and len({p[3] for p in after}) == N_CHUNKS
    assert set(_log(ws).values()) == {"done"}


def test_connection_refused_is_bounded_and_clear(sample_ws, fake):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(GenerationError, match="cannot connect") as err:
        generate(sample_ws, _settings(url), writer=_writer(url, retries=2), embedder=EMB[0])
    assert "gave up after 3 attempts" in str(err.value)
    # Retries within the policy, never an endless loop: at most 0.5 s + 1 s of backoff a chunk.
    assert time.perf_counter() - started < 1.5 * N_CHUNKS + 5
    assert _pairs(sample_ws) == []
    _rerun_completes(sample_ws, [], fake)


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ('{"questions": ["What does the borrow checker', "not JSON"),  # truncated mid-string
        ('{"answer": 42}', "questions"),  # valid JSON, wrong schema
        ("[1, 2, 3]", "question"),  # a list, but of numbers
        ('{"questions": "one string, not a list"}', "question"),
        ("", "empty"),
    ],
)
def test_bad_answers_are_recorded_per_chunk_and_rerun_finishes(sample_ws, fake, answer, word):
    generate(
        sample_ws,
        _settings(fake.base_url, limit_chunks=2),
        writer=_writer(fake.base_url),
        embedder=EMB[0],
    )
    before = _pairs(sample_ws)
    assert len(before) == 2
    fake.answer = lambda messages: answer
    with pytest.raises(GenerationError) as err:
        generate(
            sample_ws, _settings(fake.base_url), writer=_writer(fake.base_url), embedder=EMB[0]
        )
    assert word.lower() in str(err.value).lower()
    assert _pairs(sample_ws) == before
    with sample_ws.connect() as conn:
        errors = conn.execute("SELECT error FROM generation_log WHERE status='error'").fetchall()
    assert len(errors) == N_CHUNKS - 2 and all(e[0] for e in errors)
    from tests.fake_openai import default_answer

    fake.answer = default_answer
    _rerun_completes(sample_ws, before, fake)


def test_huge_retry_after_is_not_waited_for(sample_ws, fake):
    # The client waits for a Retry-After of up to two minutes; beyond that it gives up at once
    # rather than hang the run for an hour, and the chunk is recorded for the next run.
    fake.set("rate_limit", times=1, retry_after=3600)
    started = time.perf_counter()
    with pytest.raises(GenerationError, match=r"rate limited \(429\); gave up after 1 attempt$"):
        generate(
            sample_ws,
            _settings(fake.base_url, limit_chunks=1),
            writer=_writer(fake.base_url),
            embedder=EMB[0],
        )
    assert time.perf_counter() - started < 10
    assert len(fake.requests) == 1 and _pairs(sample_ws) == []
    assert list(_log(sample_ws).values()) == ["error"]
    _rerun_completes(sample_ws, [], fake)


def test_rate_limit_with_retry_after_is_retried_and_succeeds(sample_ws, fake):
    fake.set("rate_limit", times=2, retry_after=0.05)
    summary = generate(
        sample_ws,
        _settings(fake.base_url, limit_chunks=1),
        writer=_writer(fake.base_url, retries=2),
        embedder=EMB[0],
    )
    assert summary["errors"] == 0 and len(_pairs(sample_ws)) == 1
    assert len(fake.requests) == 3  # two 429s, then the answer


def test_wrong_key_fails_at_once_with_a_one_line_reason(sample_ws):
    with FaultyOpenAI(key="sk-right") as guarded:
        with pytest.raises(GenerationError) as err:
            generate(
                sample_ws,
                _settings(guarded.base_url),
                writer=_writer(guarded.base_url, retries=3),
                embedder=EMB[0],
            )
        assert len(guarded.auth_headers) == N_CHUNKS  # one request a chunk: a 401 is not retried
    message = str(err.value)
    assert "\n" not in message and message.endswith("endpoint refused the request: HTTP 401")
    assert set(_log(sample_ws).values()) == {"error"} and _pairs(sample_ws) == []


def test_rate_limited_forever_gives_up_within_the_policy(sample_ws, fake):
    fake.set("rate_limit", times=10_000, retry_after=0.05)
    with pytest.raises(GenerationError, match="rate limited"):
        generate(
            sample_ws,
            _settings(fake.base_url),
            writer=_writer(fake.base_url, retries=2),
            embedder=EMB[0],
        )
    assert len(fake.requests) == 3 * N_CHUNKS
    _rerun_completes(sample_ws, [], fake)


def test_endpoint_dying_for_good_halfway_keeps_pairs_and_another_endpoint_finishes(sample_ws):
    with FaultyOpenAI(die_after=2) as dying:
        summary = generate(
            sample_ws,
            _settings(dying.base_url),
            writer=_writer(dying.base_url, retries=2),
            embedder=EMB[0],
        )
        assert dying._stopped.wait(10)
    # Two chunks finished before the endpoint died; the others failed after bounded retries.
    assert summary["errors"] == N_CHUNKS - 2
    assert all(
        "cannot connect" in e["error"] or "gave up" in e["error"] for e in summary["error_examples"]
    )
    before = _pairs(sample_ws)
    assert len(before) == 2
    with FakeOpenAI() as healthy:  # a new endpoint (new port): the run picks up where it was
        _rerun_completes(sample_ws, before, healthy)


def test_cli_generate_against_refused_endpoint_is_one_line(sample_ws, capsys):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    rc = generate_openai(sample_ws, url, "simple", 1, "--timeout", "2", "--json")
    out = capsys.readouterr()
    assert rc == 1
    last = out.err.strip().splitlines()[-1]
    assert last.startswith("embstudio generate: error:") and "connect" in last
    assert "Traceback" not in out.err
    assert out.out == ""  # --json prints its one object on success only: no half result
