"""Secrets (issue 9, case 5): an API key never lands in the database, run or job folders, logs,
exports or error messages, also when the endpoint refuses the key and echoes it back.

The key is distinctive and read from an environment variable, as users set it; afterwards every
byte of the workspace (studio.db with its WAL, files, jobs/, runs/, exports/) is searched.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.jobs import log_tail, start_job, wait_job
from tests.gen_helpers import generate_openai
from tests.reliability._fakes import FaultyOpenAI

ENV = "EMBSTUDIO_RELIABILITY_KEY"


def new_key() -> str:
    return f"sk-reliability-{uuid.uuid4().hex}"


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under `root` whose bytes contain `secret` (UTF-8 or UTF-16)."""
    needles = [secret.encode(), secret.encode("utf-16-le")]
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(n in data for n in needles):
                hits.append(str(path.relative_to(root)))
    return hits


def _generate(ws, url: str, capsys) -> tuple[int, str]:
    rc = generate_openai(ws, url, "simple", 2, "--api-key-env", ENV, "--json")
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_key_used_but_never_stored_even_after_auth_failure(sample_ws, monkeypatch, capsys):
    key = new_key()
    with FaultyOpenAI(key=key) as fake:
        monkeypatch.setenv(ENV, key)
        rc, output = _generate(sample_ws, fake.base_url, capsys)
        assert rc == 0, output
        assert f"Bearer {key}" in fake.auth_headers  # the key really went to the endpoint
        assert key not in output
        rc = cli_main(
            [
                "pairs",
                str(sample_ws.root),
                "--accept-all",
                "--export",
                str(sample_ws.exports_dir / "p.jsonl"),
            ]
        )
        assert rc == 0
        output += "".join(capsys.readouterr())

        # A wrong key: the endpoint answers 401 and repeats the key in its message.
        wrong = new_key()
        monkeypatch.setenv(ENV, wrong)
        rc, failed = _generate(sample_ws, fake.base_url, capsys)
        # Every chunk is done already: force new requests with more chunks.
        if rc == 0:
            rc = generate_openai(sample_ws, fake.base_url, "simple", 5, "--api-key-env", ENV)
            out = capsys.readouterr()
            failed = out.out + out.err
        assert rc == 1 and "401" in failed
        assert f"Bearer {wrong}" in fake.auth_headers
    for secret in (key, wrong):
        assert secret not in output + failed
        assert files_holding(sample_ws.root, secret) == []
    with sample_ws.connect() as conn:
        errors = [r[0] for r in conn.execute("SELECT error FROM generation_log")]
    assert any("401" in e for e in errors)  # the failure is recorded, without the key
    assert (sample_ws.exports_dir / "p.jsonl").stat().st_size > 0


def test_settings_refuse_a_pasted_key(ws, monkeypatch):
    from core.settings import SettingsError, api_key, load_settings, save_settings

    key = new_key()
    settings = load_settings(ws)
    settings.llm.api_key_env = key  # a user pastes the key where its variable name belongs
    with pytest.raises(SettingsError):
        save_settings(ws, settings)
    settings.llm.api_key_env = ENV
    monkeypatch.setenv(ENV, key)
    save_settings(ws, settings)
    assert api_key(load_settings(ws).llm) == key  # read from the environment at use time
    assert files_holding(ws.root, key) == []


@pytest.mark.slow
def test_generate_job_keeps_the_key_out_of_params_logs_and_db(sample_ws, monkeypatch):
    from core.generation.pipeline import GenerateSettings

    key = new_key()
    monkeypatch.setenv(ENV, key)  # the worker process inherits it, as from the app's server
    with FaultyOpenAI(key=key) as fake:
        params = GenerateSettings(
            provider="openai",
            base_url=fake.base_url,
            api_key_env=ENV,
            kinds=("simple",),
            limit_chunks=2,
        ).to_params()
        job_id = start_job(sample_ws, "generate", params)
        job = wait_job(sample_ws, job_id, poll_s=0.5)
        assert job["status"] == "succeeded", job["error"]
        assert f"Bearer {key}" in fake.auth_headers
    assert files_holding(sample_ws.root, key) == []
    assert key not in log_tail(sample_ws, job_id, 200)
