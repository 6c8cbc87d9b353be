"""Real-browser fixtures: a `streamlit run` server on a free port and headless Debian Chromium.

Nothing is downloaded: the browser is the system's `/usr/bin/chromium` (Debian package, which
`.ci/run` installs when missing) driven by Playwright's sync API. Screenshots go to
`test-artifacts/browser/` (git-ignored) so a failed run can be inspected.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("EMBSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes tabs otherwise
]
ARTIFACTS = REPO / "test-artifacts" / "browser"
SERVER_START_S = 120.0  # streamlit imports torch lazily, but a loaded 2-core CI box is slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)  # polling a socket: there is no event to wait on
    raise TimeoutError(f"streamlit did not answer {url} in {timeout_s:.0f}s:\n{log.read_text()}")


@contextlib.contextmanager
def run_studio(workspace: Path) -> Iterator[dict]:
    """`streamlit run app.py -- --workspace WORKSPACE` on a free port until the block ends."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "streamlit.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",  # no reloads while others edit files; less load on 2 cores
                "--",
                "--workspace",
                str(workspace),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/_stcore/health", proc, log, SERVER_START_S)
        yield {"url": url, "workspace": workspace, "log": log, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _stop_jobs(workspace)


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Iterator[dict]:
    """A running studio on an empty workspace: {"url", "workspace", "log", "port"}."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: install the Debian package `chromium` (.ci/run does)")
    for old in ARTIFACTS.glob("*.png"):  # screenshots of one run only
        old.unlink()
    with run_studio(tmp_path_factory.mktemp("browser") / "ws") as info:
        yield info


def _stop_jobs(workspace: Path) -> None:
    # Job workers run in their own sessions; end any the test left running (by their pid).
    import signal

    from core.store import Workspace

    if not (workspace / "studio.db").exists():
        return
    with Workspace.open(workspace).connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM jobs WHERE status IN ('queued', 'running') AND pid IS NOT NULL"
        ).fetchall()
    for row in rows:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(row["pid"], signal.SIGTERM)


@pytest.fixture(scope="module")
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def browser_page(browser, timeout_ms: int = 60_000) -> Iterator:
    """A fresh page in its own context (1400 × 1600), closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser, studio):
    with browser_page(browser) as p:
        yield p
