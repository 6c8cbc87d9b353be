"""Who may use the app, and which folders its pages may touch (issue 16, item 8).

The app is for its operator: `make run` binds to loopback, and a shared app is protected by a
password (`EMBSTUDIO_PASSWORD`, or `password` in `.streamlit/secrets.toml`) or by the
platform's login (`EMBSTUDIO_AUTH=oidc` with Streamlit's `[auth]` secrets, see `ui/auth.py`);
repeated wrong passwords are slowed down per session and per client address (`LoginThrottle`).
Pages never reach outside two kinds of folder, whoever is using them:

- workspaces: under `EMBSTUDIO_WORKSPACES_ROOT` (default: the folder holding the workspace the
  app was started with, `workspaces/` for `make run`);
- data to evaluate on (BEIR folders): under a workspaces root or one of
  `EMBSTUDIO_DATA_ROOTS` (os.pathsep-separated; default: the cache folder BEIR downloads go
  to, `core.evaluation.general_data.cache_root()`, and `EMBSTUDIO_GENERAL_DIR` when set).

The CLI is the operator's own tool and is not limited. Setting a root to `/` widens it to the
whole machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

WORKSPACES_ROOT_ENV = "EMBSTUDIO_WORKSPACES_ROOT"
DATA_ROOTS_ENV = "EMBSTUDIO_DATA_ROOTS"
PASSWORD_ENV = "EMBSTUDIO_PASSWORD"
AUTH_ENV = "EMBSTUDIO_AUTH"


class AccessError(Exception):
    """A path or a request the app refuses (the message says why and how to allow it)."""


def workspaces_root(started_with: str | Path) -> Path:
    """The folder every workspace of the app lives under: $EMBSTUDIO_WORKSPACES_ROOT, else
    the parent of the workspace the app was started with."""
    configured = os.environ.get(WORKSPACES_ROOT_ENV)
    root = Path(configured) if configured else Path(started_with).resolve().parent
    return root.resolve()


def data_roots(started_with: str | Path) -> list[Path]:
    """Folders a page may read evaluation data from."""
    configured = [p for p in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p]
    roots = [Path(p).resolve() for p in configured] or default_data_roots()
    return [workspaces_root(started_with), *roots]


def default_data_roots() -> list[Path]:
    """Without EMBSTUDIO_DATA_ROOTS: the BEIR download cache and the operator's
    EMBSTUDIO_GENERAL_DIR (nothing outside the product's own folders otherwise)."""
    from core.evaluation.general_data import GENERAL_DIR_ENV, cache_root

    roots = [cache_root().resolve()]
    if named := os.environ.get(GENERAL_DIR_ENV, "").strip():
        roots.append(Path(named).expanduser().resolve())
    return roots


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_workspace_path(path: str | Path, started_with: str | Path) -> Path:
    """The resolved workspace folder, or AccessError when it lies outside the root."""
    resolved = Path(path).expanduser().resolve()
    root = workspaces_root(started_with)
    if not _inside(resolved, root):
        raise AccessError(
            f"workspaces live under {root}; {resolved} is outside it (the operator can widen "
            f"this with {WORKSPACES_ROOT_ENV})"
        )
    return resolved


def check_data_path(path: str | Path, started_with: str | Path) -> Path:
    """The resolved data folder, or AccessError when it lies outside every data root."""
    resolved = Path(path).expanduser().resolve()
    roots = data_roots(started_with)
    if not any(_inside(resolved, root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise AccessError(
            f"evaluation data is read from {allowed} only; {resolved} is outside (the "
            f"operator can add folders with {DATA_ROOTS_ENV})"
        )
    return resolved


def configured_password(secrets: object | None = None) -> str | None:
    """The app's password: $EMBSTUDIO_PASSWORD, else `password` in the Streamlit secrets."""
    value = os.environ.get(PASSWORD_ENV)
    if not value and secrets is not None:
        try:
            value = secrets.get("password")  # type: ignore[attr-defined]
        except Exception:
            value = None
    return str(value) if value else None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response time says nothing about the password."""
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


# ---------------------------------------------------------------------------- wrong passwords
class LoginThrottle:
    """Slows repeated wrong passwords down, per session and per client address.

    Each wrong password counts against every key of the attempt (`client_keys`: its session,
    its client address). The first `free` failures of a key cost nothing; after that, the key
    may try again only `base_s * 2 ** (failures - free)` seconds after its last failure (1, 2,
    4 … s), at most `max_s`. An attempt made while any of its keys waits is refused without
    the password being looked at. A correct password clears its keys; a key unused for
    `forget_after_s` is forgotten, and at most `max_keys` are kept (the stalest go first).
    In-process: it lasts as long as the app's process, which is what serves every session.
    `clock` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        free: int = 3,
        base_s: float = 1.0,
        max_s: float = 300.0,
        forget_after_s: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base_s, self.max_s = free, base_s, max_s
        self.forget_after_s, self.max_keys, self.clock = forget_after_s, max_keys, clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, time of the last)
        self._lock = threading.Lock()

    def delay_after(self, failures: int) -> float:
        """Seconds a key waits after its `failures`-th wrong password."""
        if failures < self.free:
            return 0.0
        return min(self.max_s, self.base_s * 2 ** (failures - self.free))

    def wait_s(self, *keys: str) -> float:
        """Seconds until an attempt with these keys is heard (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [
                last + self.delay_after(count) - now
                for count, last in (self._failures.get(k, (0, now)) for k in keys)
            ]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> float:
        """Count a wrong password against `keys`; returns the wait it now costs."""
        now = self.clock()
        with self._lock:
            self._forget(now)
            for key in keys:
                count, _ = self._failures.get(key, (0, now))
                self._failures[key] = (count + 1, now)
        return self.wait_s(*keys)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _forget(self, now: float) -> None:
        stale = [k for k, (_, last) in self._failures.items() if now - last > self.forget_after_s]
        for key in stale:
            del self._failures[key]
        if len(self._failures) >= self.max_keys:
            by_age = sorted(self._failures, key=lambda k: self._failures[k][1])
            for key in by_age[: len(self._failures) - self.max_keys + 1]:
                del self._failures[key]


# The app's one throttle: every session of the Streamlit process shares it (ui/auth.py).
LOGIN_THROTTLE = LoginThrottle()


def client_keys(
    session: str, headers: Mapping[str, str] | None = None, peer: str | None = None
) -> list[str]:
    """The keys a password attempt counts against: its session, the client address a proxy
    names (the first `X-Forwarded-For` entry) and the address of the connection itself
    (`peer`; None for loopback, where a local proxy or the operator sits). Both addresses
    count when both are known: a client that reaches the app directly cannot shed its
    failures by forging the header."""
    keys = [f"session:{session}"]
    forwarded = next((v for k, v in (headers or {}).items() if k.lower() == "x-forwarded-for"), "")
    if client := forwarded.split(",")[0].strip():
        keys.append(f"address:{client}")
    if peer and f"address:{peer}" not in keys:
        keys.append(f"address:{peer}")
    return keys
