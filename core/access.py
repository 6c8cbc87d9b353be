"""Who may use the app, and which folders its pages may touch (issue 16, item 8).

The app is for its operator: `make run` binds to loopback, and a shared app is protected by a
password (`EMBSTUDIO_PASSWORD`, or `password` in `.streamlit/secrets.toml`) or by the
platform's login (`EMBSTUDIO_AUTH=oidc` with Streamlit's `[auth]` secrets, see `ui/auth.py`).
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
