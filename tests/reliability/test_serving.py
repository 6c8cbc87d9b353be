"""Serving (issue 9, case 6) beyond tests/test_serve.py: hostile bodies get an OpenAI-style 4xx
and the service keeps answering; it binds to 127.0.0.1 unless told otherwise. The 1,000-request
soak with memory measured is `bench/bench_reliability.py` (and the slow test below)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from core.serve import DEFAULT_HOST, ServeSettings, create_app

KEY = "serve-reliability-key-7c1e"


@pytest.fixture(scope="module")
def embedder():
    from core.export.runtime import load_embedder
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    return load_embedder(resolve_model(DEFAULT_BASE_MODEL))


@pytest.fixture(scope="module")
def tc(embedder):
    settings = ServeSettings(max_batch=16, max_input_chars=4000, max_body_bytes=64_000)
    app = create_app(embedder, settings, api_key=KEY, model_id="m")
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        yield client


def _is_openai_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    return err


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"model": "m", "input": "caf\xe9"}', 400),  # not UTF-8
        (b"", 400),
        (b"null", 400),
        (b'"just a string"', 400),
        (b'{"model": "m", "input": ["a", 1]}', 400),
        (b'{"model": "m", "input": [["a"]]}', 400),
        (b'{"model": 7, "input": "x"}', 400),
        (b'{"model": "m", "input": "x", "dimensions": true}', 400),
        (b'{"model": "m", "input": "x", "dimensions": NaN}', 400),
        (b'{"model": "m", "input": "x", "encoding_format": null}', 400),
        (b'{"model": "m", "input": {"text": "x"}}', 400),
        (b'{"model": "m", "input": ["x"], "input": 5}', 400),  # duplicate key, last wins
    ],
)
def test_malformed_and_wrong_type_bodies_get_4xx(tc, body, status):
    r = tc.post("/v1/embeddings", content=body, headers={"Content-Type": "application/json"})
    _is_openai_error(r, status)


def test_odd_but_valid_text_is_embedded(tc):
    # A NUL, emoji and a right-to-left override are valid Unicode text: each is embedded.
    for text in ("\\u0000nul inside", "🙂" * 50, "\u202e" + "x" * 100):
        body = '{"model": "m", "input": "' + text + '"}'  # JSON escapes sent as they are
        r = tc.post(
            "/v1/embeddings", content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, (text[:10], r.status_code, r.text[:200])
        assert len(r.json()["data"][0]["embedding"]) == 384


def test_oversize_requests_refused_without_reading_them_all(tc):
    many = {"model": "m", "input": ["ten chars!"] * 10_000}
    _is_openai_error(tc.post("/v1/embeddings", json=many), 413)  # body over 64 KB first

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'{"model": "m", "input": "'
        for _ in range(200):
            yield b"y" * 1000
        yield b'"}'

    _is_openai_error(tc.post("/v1/embeddings", content=chunks()), 413)
    long_one = {"model": "m", "input": "word " * 5000}  # 25,000 chars > 4,000
    assert _is_openai_error(tc.post("/v1/embeddings", json=long_one), 400)["param"] == "input"
    over_tokens = {"model": "m", "input": "antidisestablishmentarianism " * 120}
    err = _is_openai_error(tc.post("/v1/embeddings", json=over_tokens), 400)
    assert err["code"] == "context_length_exceeded"


def test_unauthenticated_requests_are_refused_before_the_body_is_read(embedder):
    app = create_app(embedder, ServeSettings(max_body_bytes=1000), api_key=KEY, model_id="m")
    with TestClient(app) as client:
        big = {"model": "m", "input": ["z" * 900] * 10}
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {KEY}x"}):
            err = _is_openai_error(client.post("/v1/embeddings", json=big, headers=headers), 401)
            assert err["code"] == "invalid_api_key" and KEY not in str(err)
        r = client.get("/v1/embeddings", headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_deeply_nested_json_is_a_400(tc):
    body = b"[" * 30_000 + b"]" * 30_000  # within the size limit
    r = tc.post("/v1/embeddings", content=body, headers={"Content-Type": "application/json"})
    _is_openai_error(r, 400)


def test_lone_surrogate_is_a_400(tc):
    body = b'{"model": "m", "input": ["fine", "\\ud800 lone surrogate"]}'
    r = tc.post("/v1/embeddings", content=body, headers={"Content-Type": "application/json"})
    assert _is_openai_error(r, 400)["param"] == "input"


def test_service_still_answers_after_the_abuse(tc):
    r = tc.post("/v1/embeddings", json={"model": "m", "input": ["still", "alive"]})
    assert r.status_code == 200 and len(r.json()["data"]) == 2


def test_binds_loopback_unless_told(monkeypatch, tmp_path):
    import inspect

    import uvicorn

    from core import serve as serve_mod
    from core.cli import main as cli_main

    assert DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(serve_mod.serve).parameters["host"].default == "127.0.0.1"
    seen: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(kw))
    monkeypatch.setattr("core.export.runtime.load_embedder", lambda path: _Stub())
    monkeypatch.delenv("EMBSTUDIO_API_KEY", raising=False)
    assert cli_main(["serve", str(tmp_path)]) == 0
    assert cli_main(["serve", str(tmp_path), "--host", "0.0.0.0", "--port", "9001"]) == 0
    assert [(k["host"], k["port"]) for k in seen] == [("127.0.0.1", 8000), ("0.0.0.0", 9001)]


class _Stub:
    name, backend, dim, max_seq_length = "stub", "stub", 3, 16


@pytest.mark.slow
def test_concurrency_soak_small(embedder):
    """A short version of bench/bench_reliability.py: 200 requests from 8 clients, no errors."""
    import uvicorn

    from tests.helpers import free_port

    app = create_app(embedder, ServeSettings(), api_key=KEY, model_id="m")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    errors: list[str] = []

    def client(i: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for j in range(25):
                r = c.post(
                    "/v1/embeddings",
                    json={"model": "m", "input": [f"client {i} request {j} text"]},
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                if r.status_code != 200:
                    errors.append(r.text[:100])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    server.should_exit = True
    thread.join(10)
    assert errors == []
