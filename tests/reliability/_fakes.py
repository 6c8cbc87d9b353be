"""Extra faults on top of tests/fake_openai.py: an endpoint that checks (and, like a careless
server, echoes) the API key, and one that dies for good after a number of requests."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fake_openai import FakeOpenAI


def closed_port() -> int:
    """A local port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FaultyOpenAI(FakeOpenAI):
    """`key`: requests without `Authorization: Bearer <key>` get 401 whose message repeats the
    header they sent. `die_after`: after that many chat requests the connection is cut without
    an answer and the server shuts down (later requests are refused)."""

    def __init__(
        self, key: str | None = None, die_after: int | None = None, **options: Any
    ) -> None:
        self.key = key
        self.die_after = die_after
        self.served = 0
        self.auth_headers: list[str] = []
        self._stopped = threading.Event()
        super().__init__(**options)

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            super().stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base: Any = super()._handler_class()
        fake = self

        class Handler(base):
            def do_POST(self) -> None:
                auth = self.headers.get("Authorization", "")
                with fake._lock:
                    fake.auth_headers.append(auth)
                if fake.key is not None and auth != f"Bearer {fake.key}":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self._json(
                        401,
                        {
                            "error": {
                                "message": f"Incorrect API key provided: {auth}",
                                "type": "invalid_request_error",
                                "code": "invalid_api_key",
                            }
                        },
                    )
                    return
                with fake._lock:
                    fake.served += 1
                    dead = fake.die_after is not None and fake.served > fake.die_after
                if dead:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    threading.Thread(target=fake.stop, daemon=True).start()
                    return
                super().do_POST()

        return Handler
