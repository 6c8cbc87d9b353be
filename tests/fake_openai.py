"""A small OpenAI-compatible chat server on 127.0.0.1 for tests (real HTTP, real `openai` client).

Behaviours (`FakeOpenAI.set(mode, **options)`):
- normal: question prompts get {"questions": [...]} made from the passage's own words; judge
  prompts get {"relevance", "accuracy", "clarity"} (`judge` option overrides the scores).
- malformed: a 200 answer whose content is not JSON.
- garbage: a 200 answer whose body is HTML, not a chat completion at all.
- rate_limit: the first `times` requests get 429 with `Retry-After: retry_after`, then normal.
- slow: answers after `delay` seconds (longer than the client's timeout).
- error500: every request gets HTTP 500.
- die_after: the first `ok` requests are normal, every later one gets HTTP 500.
Any mode takes `latency`: seconds every request waits before it is answered (a served LLM's
time per request, for throughput benches). `max_in_flight` is the most requests seen at once.
`answer` may be set to a function (messages -> content) to script the content itself.

Use the `fake_openai` fixture (import it into a test module or conftest), or run it by hand:
`python -m tests.fake_openai --port 8011 [--mode normal] [--latency 0.5]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MODES = ("normal", "malformed", "garbage", "rate_limit", "slow", "error500", "die_after")


def passage_of(prompt: str) -> str:
    """The passage a prompt asks about: its last triple-quoted block, else "Passage 1"."""
    blocks = re.findall(r'"""\s*(.*?)\s*"""', prompt, re.S)
    if blocks:
        return blocks[-1]  # contextual prompts put the preceding text first
    m = re.search(r"Passage 1:\s*(.*?)(?:\n\s*\nPassage 2:|$)", prompt, re.S)
    return m.group(1) if m else prompt


def question_from(passage: str, i: int = 0) -> str:
    """A plausible question built from the passage's words (sentence `i`), so that the
    round-trip check finds its source chunk."""
    sents = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(passage.split())) if s]
    sent = sents[min(i, len(sents) - 1)] if sents else passage
    words = re.findall(r"[A-Za-z][A-Za-z0-9\-]*", sent)[:12]
    return "What is known about " + " ".join(words).lower() + "?"


def default_answer(messages: list[dict[str, str]]) -> str:
    prompt = messages[-1]["content"] if messages else ""
    if "Rate a search question" in prompt:
        return json.dumps({"relevance": 5, "accuracy": 4, "clarity": 5})
    m = re.search(r"Write (\d+) different", prompt)
    n = int(m.group(1)) if m else 1
    passage = passage_of(prompt)
    return (
        "```json\n"
        + json.dumps({"questions": [question_from(passage, i) for i in range(n)]})
        + "\n```"
    )


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) refuses connections when a writer opens dozens at once.
    request_queue_size = 256
    daemon_threads = True


class FakeOpenAI:
    """The server; `base_url` ends in /v1. Thread-safe counters: `requests` (bodies seen),
    `max_in_flight` (most requests being answered at once since the last `set`)."""

    def __init__(self, mode: str = "normal", **options: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[list[dict[str, str]]], str] = default_answer
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self.set(mode, **options)
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set(self, mode: str, **options: Any) -> None:
        """Switch behaviour and reset the request log."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.mode = mode
            self.options = options
            self.requests = []
            self.max_in_flight = self._in_flight

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # the client may have given up (timeout)

            def _json(self, status: int, obj: Any, headers: dict | None = None) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json", headers)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                with fake._lock:
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                try:
                    self._post()
                finally:
                    with fake._lock:
                        fake._in_flight -= 1

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    n = len(fake.requests)
                    mode, opts = fake.mode, dict(fake.options)
                time.sleep(float(opts.get("latency", 0.0)))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if mode == "error500" or (mode == "die_after" and n > opts.get("ok", 3)):
                    self._json(500, {"error": {"message": "internal error", "type": "server"}})
                    return
                if mode == "rate_limit" and n <= opts.get("times", 1):
                    self._json(
                        429,
                        {"error": {"message": "slow down", "type": "rate_limit"}},
                        {"Retry-After": str(opts.get("retry_after", 0))},
                    )
                    return
                if mode == "slow":
                    time.sleep(float(opts.get("delay", 5.0)))
                if mode == "garbage":
                    self._send(200, b"<html><body>Bad gateway</body></html>", "text/html")
                    return
                messages = body.get("messages") or []
                if mode == "malformed":
                    content = "Sure! Here are some questions: [What is, {broken"
                else:
                    content = (
                        opts.get("judge_answer")
                        if _is_judge(messages) and opts.get("judge_answer")
                        else fake.answer(messages)
                    )
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{n}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

        return Handler


def _is_judge(messages: list[dict[str, str]]) -> bool:
    return bool(messages) and "Rate a search question" in messages[-1].get("content", "")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake endpoint in normal mode; `fake_openai.set(...)` changes behaviour."""
    with FakeOpenAI() as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    server = FakeOpenAI(args.mode, latency=args.latency)
    server._server.server_close()
    server._server = _Server(("127.0.0.1", args.port), server._handler_class())
    print(f"fake OpenAI endpoint at {server.base_url} (mode {args.mode})", flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
