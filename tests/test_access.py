"""Who may use the app and which folders its pages touch (core/access.py, ui/auth.py)."""

from __future__ import annotations

import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from core.access import AccessError, check_data_path, check_workspace_path
from tests.conftest import REPO
from tests.gen_helpers import ingest_sample
from tests.helpers import page_app


def test_the_app_listens_on_loopback_unless_the_operator_says_otherwise():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    makefile = (REPO / "Makefile").read_text()
    assert "HOST   ?= 127.0.0.1" in makefile and "--server.address $(HOST)" in makefile


def test_workspaces_stay_under_the_root(tmp_path, monkeypatch):
    root = tmp_path / "workspaces"
    monkeypatch.setenv("EMBSTUDIO_WORKSPACES_ROOT", str(root))
    assert check_workspace_path(root / "a", "ignored") == (root / "a").resolve()
    for outside in (tmp_path / "elsewhere", root / ".." / "escape", "/etc"):
        with pytest.raises(AccessError, match="workspaces live under"):
            check_workspace_path(outside, "ignored")
    monkeypatch.delenv("EMBSTUDIO_WORKSPACES_ROOT")
    # Without the variable, the root is the folder of the workspace the app started with.
    started = tmp_path / "mine" / "demo"
    assert check_workspace_path(tmp_path / "mine" / "other", started)
    with pytest.raises(AccessError):
        check_workspace_path(tmp_path / "other", started)


def test_a_page_refuses_a_workspace_outside_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBSTUDIO_WORKSPACES_ROOT", str(tmp_path / "workspaces"))
    at = AppTest.from_file(str(REPO / "pages" / "1_Documents.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(tmp_path / "not-allowed")
    at.run()
    assert not at.exception
    assert any("workspaces live under" in e.value for e in at.error)
    assert not (tmp_path / "not-allowed").exists()  # nothing was created


def test_default_data_roots_are_the_products_own(tmp_path, monkeypatch):
    from core.access import data_roots

    monkeypatch.setenv("EMBSTUDIO_WORKSPACES_ROOT", str(tmp_path / "workspaces"))
    monkeypatch.delenv("EMBSTUDIO_DATA_ROOTS", raising=False)
    monkeypatch.delenv("EMBSTUDIO_GENERAL_DIR", raising=False)
    monkeypatch.setenv("EMBSTUDIO_CACHE", str(tmp_path / "cache"))
    assert data_roots("x") == [tmp_path / "workspaces", tmp_path / "cache" / "beir"]
    monkeypatch.setenv("EMBSTUDIO_GENERAL_DIR", str(tmp_path / "scifact"))
    assert data_roots("x")[-1] == tmp_path / "scifact"  # the operator named it


def test_evaluation_data_only_from_data_roots(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBSTUDIO_WORKSPACES_ROOT", str(ws.root.parent))
    monkeypatch.setenv("EMBSTUDIO_DATA_ROOTS", str(tmp_path / "data"))
    assert check_data_path(tmp_path / "data" / "beir", "x")
    with pytest.raises(AccessError, match="EMBSTUDIO_DATA_ROOTS"):
        check_data_path("/etc", "x")
    ingest_sample(ws)
    at = page_app(ws, "5_Evaluate.py").run()
    at.radio(key="ev_dataset").set_value("beir").run()
    at.text_input(key="ev_beir_dir").set_value("/etc").run()
    at.button(key="ev_start").click().run()
    assert not at.exception
    assert any("evaluation data is read from" in e.value for e in at.error)
    from core.jobs import list_jobs

    assert list_jobs(ws, kind="evaluate") == []


def test_a_password_guards_every_page(ws, monkeypatch):
    monkeypatch.setenv("EMBSTUDIO_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("EMBSTUDIO_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.text_input(key="auth_password") is not None
    assert not at.sidebar.text_input  # no workspace picker before the password
    at.text_input(key="auth_password").set_value("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    at.text_input(key="auth_password").set_value("s3cret-pass")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["auth_ok"] is True
    assert at.sidebar.text_input(key="sidebar_workspace_input").value == str(ws.root)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_wait_longer_and_longer_after_three():
    from core.access import LoginThrottle

    clock = _Clock()
    throttle = LoginThrottle(free=3, base_s=1.0, max_s=8.0, clock=clock)
    me = ["session:a", "address:203.0.113.7"]
    assert [throttle.failed(*me) for _ in range(3)] == [0.0, 0.0, 1.0]  # the 3rd costs 1 s
    assert throttle.wait_s(*me) == 1.0
    clock.now += 0.5
    assert throttle.wait_s(*me) == 0.5  # an attempt now is refused unheard
    clock.now += 0.5
    assert throttle.wait_s(*me) == 0.0
    waits = []
    for _ in range(5):
        waits.append(throttle.failed(*me))
        clock.now += waits[-1]
    assert waits == [2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, capped
    # Another session from the same address waits as long; another address does not.
    assert throttle.wait_s("session:b", "address:203.0.113.7") == 0.0  # the last wait passed
    throttle.failed(*me)
    assert throttle.wait_s("session:b", "address:203.0.113.7") == 8.0
    assert throttle.wait_s("session:a", "address:198.51.100.2") == 8.0
    assert throttle.wait_s("session:b", "address:198.51.100.2") == 0.0
    # The right password clears its keys.
    clock.now += 8
    throttle.succeeded(*me)
    assert throttle.failed(*me) == 0.0


def test_the_throttle_forgets_old_failures_and_keeps_few_keys():
    from core.access import LoginThrottle

    clock = _Clock()
    throttle = LoginThrottle(free=1, forget_after_s=60, max_keys=3, clock=clock)
    throttle.failed("session:old")
    clock.now += 61
    throttle.failed("session:new")
    assert throttle.wait_s("session:old") == 0.0
    for i in range(5):
        clock.now += 0.1
        throttle.failed(f"address:10.0.0.{i}")
    assert len(throttle._failures) <= 3
    assert throttle.wait_s("address:10.0.0.4") > 0  # the newest are kept


def test_client_keys_name_the_session_and_both_addresses():
    from core.access import client_keys

    assert client_keys("s1") == ["session:s1"]
    proxied = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "Host": "studio"}
    assert client_keys("s1", proxied, None) == ["session:s1", "address:203.0.113.7"]
    # Reached directly: a forged header does not shed the connection's own address.
    assert client_keys("s1", {"x-forwarded-for": "1.2.3.4"}, "198.51.100.2") == [
        "session:s1",
        "address:1.2.3.4",
        "address:198.51.100.2",
    ]
    assert client_keys("s1", {}, "198.51.100.2") == ["session:s1", "address:198.51.100.2"]


def test_the_password_gate_slows_repeated_failures(ws, monkeypatch):
    from core import access

    clock = _Clock()
    monkeypatch.setattr(access, "LOGIN_THROTTLE", access.LoginThrottle(clock=clock))
    monkeypatch.setenv("EMBSTUDIO_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("EMBSTUDIO_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()

    def attempt(password: str) -> str:
        at.text_input(key="auth_password").set_value(password)
        at.button[0].click().run()
        assert not at.exception
        return " ".join(e.value for e in at.error)

    assert attempt("wrong") == "Wrong password."
    assert attempt("wrong") == "Wrong password."
    assert attempt("wrong") == "Wrong password. Try again in 1 s."
    # Too soon: even the right password is not looked at.
    assert attempt("s3cret-pass").startswith("Too many wrong passwords: the next attempt is")
    assert "auth_ok" not in at.session_state
    clock.now += 1
    assert attempt("wrong") == "Wrong password. Try again in 2 s."
    clock.now += 2
    attempt("s3cret-pass")
    assert at.session_state["auth_ok"] is True
