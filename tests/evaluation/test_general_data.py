"""The general-domain set never comes from ../shared (issue 23, item 3): a folder the user
names (Settings, EMBSTUDIO_GENERAL_DIR), SciFact in the cache, or BEIR's downloader; when none
is there the check says how to get it and the merge curve measures the domain alone."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation import general_data
from core.evaluation.datasets import general_set
from core.evaluation.general_data import GeneralSetMissing
from core.settings import StudioSettings, save_settings
from core.store import Workspace
from tests.helpers import free_port
from tests.playground_helpers import GENERAL_QUERIES, tiny_general_set


@pytest.fixture
def nothing_named(tmp_path, monkeypatch) -> Path:
    """No folder named, an empty cache, and a BEIR server that refuses connections."""
    monkeypatch.delenv(general_data.GENERAL_DIR_ENV, raising=False)
    monkeypatch.setenv("EMBSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(general_data, "SCIFACT_URL", f"http://127.0.0.1:{free_port()}/scifact.zip")
    return tmp_path / "cache"


def test_without_any_source_the_check_says_both_ways_to_get_one(nothing_named):
    with pytest.raises(GeneralSetMissing) as caught:
        general_set()
    message = str(caught.value)
    assert "\n" not in message
    assert "not reachable" in message
    assert "Settings" in message and "EMBSTUDIO_GENERAL_DIR" in message
    assert not (nothing_named / "beir" / "scifact").exists()


def test_the_settings_folder_comes_before_the_environment(ws, tmp_path, monkeypatch):
    named = tiny_general_set(tmp_path / "named")
    monkeypatch.setenv(general_data.GENERAL_DIR_ENV, str(tmp_path / "elsewhere"))
    save_settings(ws, StudioSettings(general_dir=str(named)))
    evalset = general_set(ws=ws)
    assert evalset.config["folder"] == str(named.resolve())
    assert set(evalset.queries) == set(GENERAL_QUERIES)


def test_the_environment_names_the_folder(tmp_path, monkeypatch):
    named = tiny_general_set(tmp_path / "env")
    monkeypatch.setenv(general_data.GENERAL_DIR_ENV, str(named))
    assert general_set().config["folder"] == str(named.resolve())


def test_beir_downloader_fetches_scifact_into_the_cache_once(nothing_named, tmp_path):
    site = tmp_path / "site"
    tiny_general_set(site / "zip" / "scifact")
    shutil.make_archive(str(site / "scifact"), "zip", site / "zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/scifact.zip"
    try:
        got = general_data.download_scifact(url)
    finally:
        server.shutdown()
    assert got == nothing_named / "beir" / "scifact"
    assert [p.name for p in (nothing_named / "beir").iterdir()] == ["scifact"]  # no leftovers
    # The server is gone: the next check reads the cache.
    assert set(general_set().queries) == set(GENERAL_QUERIES)


def test_merge_curve_without_a_general_set_runs_on_the_domain_alone(nothing_named, tmp_path):
    from core.evaluation.merge_curve import CurveSettings, compute_curve, curve_rows
    from tests.evaluation_helpers import make_tiny_workspace
    from tests.playground_helpers import save_nudged_run

    ws = Workspace.create(tmp_path / "ws")
    make_tiny_workspace(ws)
    save_nudged_run(ws, "run-t", scale=0.5)
    curve = compute_curve(ws, CurveSettings(run_id="run-t", alphas=(0.0, 1.0)))
    assert curve["general_set"] is None
    assert "EMBSTUDIO_GENERAL_DIR" in curve["general_note"]
    rows = curve_rows(curve)
    assert [r["general"] for r in rows] == [None, None]
    assert all(0 < r["domain"] <= 1 for r in rows)

    # The Evaluate page's merge section draws it over α and says why there is no general set.
    at = AppTest.from_function(_merge_section, args=(str(ws.root),), default_timeout=60)
    at.session_state["ev_merge_alpha"] = 1.0  # a measured point (the slider starts at 0.5)
    at.run()
    assert not at.exception, at.exception
    assert any("Measured on the domain alone" in i.value for i in at.info)
    assert any(m.value.startswith("**Marked: α = 1** (run-t): domain") for m in at.markdown)


def _merge_section(root: str) -> None:
    from core import runs
    from core.store import Workspace
    from ui.merge_panel import merge_panel

    ws = Workspace.open(root)
    merge_panel(ws, runs.list_runs(ws), {"dataset": "workspace"})
