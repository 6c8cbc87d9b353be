"""The OpenAI-compatible service, called by the official `openai` client on a local port."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from core.export.parity import cosine_per_text
from core.export.runtime import load_embedder
from core.serve import ServeSettings, create_app
from tests.conftest import REPO
from tests.export_helpers import RUN_ID, scifact_passages
from tests.helpers import free_port

KEY = "test-key-3f9a"
CLI = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def server(exported):
    """uvicorn in a thread serving the int8 export with an API key; yields its base URL."""
    import uvicorn

    _, info = exported
    embedder = load_embedder(Path(info["path"]) / "onnx-int8")
    settings = ServeSettings(max_batch=8, max_input_chars=5000, max_body_bytes=32_000)
    app = create_app(embedder, settings, api_key=KEY)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def test_embeddings_match_pytorch_and_count_tokens(server, torch_model):
    # Passages cut to 120 words: within the model's 256 tokens (longer inputs are refused).
    texts = ["What causes antibiotic resistance?"]
    texts += [" ".join(p.split()[:120]) for p in scifact_passages(3)]
    resp = client(server).embeddings.create(model=RUN_ID, input=texts, encoding_format="float")
    got = np.array([d.embedding for d in sorted(resp.data, key=lambda d: d.index)])
    assert got.shape == (4, 384) and resp.model == RUN_ID
    assert cosine_per_text(torch_model.embed(texts), got).min() >= 0.99
    tokens = sum(len(ids) for ids in torch_model.model.tokenizer(texts)["input_ids"])
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == tokens

    # The client's default is base64 (decoded by the client); the raw bytes are LE float32.
    # (Same single-text request each time: int8 activation scales depend on the batch.)
    one = client(server).embeddings.create(model=RUN_ID, input=texts[0], encoding_format="float")
    default = client(server).embeddings.create(model=RUN_ID, input=texts[0])
    np.testing.assert_allclose(default.data[0].embedding, one.data[0].embedding, atol=1e-6)
    raw = httpx.post(
        f"{server}/v1/embeddings",
        json={"model": RUN_ID, "input": texts[0], "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {KEY}"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, one.data[0].embedding, atol=1e-6)
    assert raw["usage"]["prompt_tokens"] == len(torch_model.model.tokenizer(texts[0])["input_ids"])


def test_models_and_health(server):
    assert [m.id for m in client(server).models.list()] == [RUN_ID]
    health = httpx.get(f"{server}/health", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert health["status"] == "ok" and health["backend"] == "onnx-int8" and health["dim"] == 384


def test_missing_or_wrong_key_gets_401(server):
    with pytest.raises(openai.AuthenticationError) as err:
        client(server, key="wrong").embeddings.create(model=RUN_ID, input="x")
    assert err.value.status_code == 401
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {KEY}"}):
        r = httpx.get(f"{server}/v1/models", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{server}/health").status_code == 401  # every route is guarded


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": RUN_ID, "input": ["a"] * 9}, 400, "input"),  # over max_batch=8
        ({"model": RUN_ID, "input": "word " * 400}, 400, "input"),  # over 256 tokens
        ({"model": RUN_ID, "input": "x" * 5001}, 400, "input"),  # over max_input_chars
        ({"model": RUN_ID, "input": 42}, 400, "input"),
        ({"model": RUN_ID, "input": [1, 2, 3]}, 400, "input"),  # token arrays
        ({"model": RUN_ID, "input": []}, 400, "input"),
        ({"model": RUN_ID, "input": ""}, 400, "input"),
        ({"input": "x"}, 400, "model"),
        ({"model": RUN_ID}, 400, "input"),
        ({"model": "gpt-4", "input": "x"}, 404, "model"),
        ({"model": RUN_ID, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"model": RUN_ID, "input": "x", "dimensions": 64}, 400, "dimensions"),
        ({"model": RUN_ID, "input": ["y" * 4999] * 8}, 413, None),  # over max_body_bytes
    ],
)
def test_bad_requests_get_openai_style_4xx(server, body, status, param):
    r = httpx.post(f"{server}/v1/embeddings", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert error["param"] == param and error["message"] and error["type"]


def test_malformed_bodies_and_service_stays_up(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    assert (
        httpx.post(f"{server}/v1/embeddings", content=b"{not json", headers=auth).status_code == 400
    )
    assert httpx.post(f"{server}/v1/embeddings", json=["a"], headers=auth).status_code == 400
    assert httpx.get(f"{server}/v1/nothing", headers=auth).json()["error"]["code"] == "not_found"
    with pytest.raises(openai.BadRequestError):
        client(server).embeddings.create(model=RUN_ID, input=["a"] * 20)
    resp = client(server).embeddings.create(model=RUN_ID, input=["still up"])
    assert len(resp.data[0].embedding) == 384


def test_pytorch_folder_is_served_too(exported, torch_model):
    from fastapi.testclient import TestClient

    app = create_app(torch_model)  # no key: open
    with TestClient(app) as tc:
        r = tc.post("/v1/embeddings", json={"model": RUN_ID, "input": ["a query", "a passage"]})
    assert r.status_code == 200
    got = np.array([d["embedding"] for d in r.json()["data"]])
    np.testing.assert_allclose(got, torch_model.embed(["a query", "a passage"]), atol=1e-5)


@contextlib.contextmanager
def served(onnx_dir: str, key: str, port: int, *extra: str) -> Iterator[list[str]]:
    """`embstudio serve ONNX_DIR --port PORT EXTRA` in a subprocess with `key` in the
    environment, up and healthy inside the block; afterwards the list holds its output."""
    env = {**os.environ, "EMBSTUDIO_API_KEY": key, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", onnx_dir, "--port", str(port), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline, ok = time.time() + 240, False  # generous: CPU-starved CI
        while time.time() < deadline and proc.poll() is None and not ok:
            try:
                headers = {"Authorization": f"Bearer {key}"}
                ok = httpx.get(f"http://127.0.0.1:{port}/health", headers=headers).is_success
            except httpx.TransportError:
                time.sleep(0.3)
        assert ok, "the service did not come up"
        yield output
    finally:
        proc.terminate()
        output.append(proc.communicate(timeout=20)[0])


def test_cli_serve_binds_localhost_with_env_key(exported):
    _, info = exported
    port = free_port()
    with served(f"{info['path']}/onnx", KEY, port) as output:
        resp = client(f"http://127.0.0.1:{port}").embeddings.create(model=RUN_ID, input="hi")
        assert len(resp.data[0].embedding) == 384
    assert KEY not in output[0]  # the key is never logged
    assert f"127.0.0.1:{port}" in output[0]


def test_default_cap_is_openais_and_a_full_request_is_embedded_in_micro_batches(exported):
    from fastapi.testclient import TestClient

    from core.serve import OPENAI_MAX_INPUTS, ApiError, parse_request

    settings = ServeSettings()
    assert settings.max_batch == OPENAI_MAX_INPUTS == 2048
    texts = [f"passage number {i}" for i in range(OPENAI_MAX_INPUTS)]
    assert len(parse_request({"model": "m", "input": texts}, "m", settings).texts) == 2048
    with pytest.raises(ApiError) as err:
        parse_request({"model": "m", "input": [*texts, "one more"]}, "m", settings)
    assert err.value.code == "too_many_inputs"
    _, info = exported
    embedder = load_embedder(Path(info["path"]) / "onnx-int8")
    seen: list[int] = []
    real_embed = embedder.embed

    def counting_embed(batch, batch_size=32):
        seen.append(batch_size)
        return real_embed(batch, batch_size=batch_size)

    embedder.embed = counting_embed  # type: ignore[method-assign]
    app = create_app(embedder, settings, model_id="m")
    r = TestClient(app).post("/v1/embeddings", json={"model": "m", "input": texts[:600]})
    assert r.status_code == 200 and len(r.json()["data"]) == 600
    assert seen == [settings.batch_size]  # 600 inputs go through the model 32 at a time


def test_token_arrays_get_a_400_naming_the_client_setting():
    from core.serve import ApiError, parse_request

    with pytest.raises(ApiError) as err:
        parse_request({"model": "m", "input": [[101, 2054], [2129]]}, "m", ServeSettings())
    assert err.value.status == 400 and "check_embedding_ctx_length=False" in err.value.message


def test_the_readme_hybrid_snippet_runs_against_embstudio_serve(exported):
    """The README's LangChain hybrid (the served model fused with BM25) as a user runs it."""
    readme = (REPO / "README.md").read_text()
    snippet = readme.split("<!-- hybrid-langchain -->\n```python\n", 1)[1].split("```", 1)[0]
    _, info = exported
    port = free_port()
    scope: dict = {}
    with served(f"{info['path']}/onnx", "KEY", port, "--model-name", "RUN"):
        exec(snippet.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), scope)
    assert scope["hits"][0].page_content.startswith("The midterm exam")
    assert len(scope["hits"]) == 3
