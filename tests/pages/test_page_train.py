"""AppTest of the Train page: empty workspace, start a real (1-step) run, follow it, runs table."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from core.jobs import wait_job
from core.runs import job_for_run
from tests.conftest import REPO
from tests.training_helpers import small_scifact

PAGE = str(REPO / "pages" / "4_Train.py")


def _app(ws) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.session_state["workspace_path"] = str(ws.root)
    return at


def test_empty_workspace_says_what_to_do(ws):
    at = _app(ws).run()
    assert not at.exception
    assert any("No curated training pairs yet" in i.value for i in at.info)


def test_start_follow_and_list_a_run(ws):
    small_scifact(ws, n_queries=8, n_other=4, n_val=0)
    with ws.transaction() as conn:  # two kinds of pairs: the page offers a mix
        conn.execute("UPDATE pairs SET kind = 'ict' WHERE id IN (SELECT id FROM pairs LIMIT 3)")
    at = _app(ws).run()
    assert not at.exception
    assert any("No negatives mined yet" in w.value for w in at.warning)
    at.number_input(key="train_weight_ict").set_value(2.0)
    at.number_input(key="train_batch").set_value(4)
    at.number_input(key="train_f_max_steps").set_value(1)
    at.number_input(key="train_f_max_seq_length").set_value(64)
    at.text_input(key="train_f_device").set_value("cpu")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    with ws.connect() as conn:
        run = conn.execute("SELECT id, config FROM runs").fetchone()
    assert run is not None and json.loads(run["config"])["max_steps"] == 1
    assert json.loads(run["config"])["kind_weights"] == {"ict": 2.0}  # real ones weigh 1
    job = wait_job(ws, job_for_run(ws, run["id"])["id"], poll_s=0.5)
    assert job["status"] == "succeeded", job["error"]

    at = _app(ws).run()  # a reload sees the same truth from the database
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["status"]) == ["succeeded"]
    assert table["model"].iloc[0] == f"runs/{run['id']}/model"
    assert at.get("plotly_chart"), "the loss curve is drawn"


def test_untouched_page_trains_what_the_cli_default_trains(ws, monkeypatch):
    from core.cli import build_parser
    from core.cli.training_cmds import build_config
    from core.training.config import TrainConfig

    small_scifact(ws, n_queries=8, n_other=4, n_val=2)
    started: list[dict] = []
    monkeypatch.setattr(
        "core.training.jobs.start_job",
        lambda ws, kind, params, run_id=None, spawn=True: started.append(params) or "job-x",
    )
    at = _app(ws).run()
    assert not at.exception
    # Empty learning rate and epochs: the trainer resolves them from the preset, as the CLI's.
    assert at.number_input(key="train_lr").value is None
    assert at.number_input(key="train_epochs").value is None
    assert any("Training signal: 24 training pairs" in c.value for c in at.warning)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    page = TrainConfig.from_dict(started[0]["config"])
    cli = build_config(build_parser().parse_args(["train", str(ws.root)]))
    assert page == cli and page.learning_rate is None and page.epochs is None
    assert page.final_fit


def test_devices_field_only_with_several_gpus_and_refusals_said_before_start(ws, monkeypatch):
    from core.training import ddp

    small_scifact(ws, n_queries=4, n_other=2, n_val=0)
    monkeypatch.setattr(ddp, "visible_gpus", lambda: 1)
    at = _app(ws).run()
    assert not at.exception
    assert "train_devices" not in [n.key for n in at.number_input]
    monkeypatch.setattr(ddp, "visible_gpus", lambda: 4)
    at = _app(ws).run()
    assert not at.exception
    at.number_input(key="train_devices").set_value(2).run()
    assert any("2 x 32 = 64 records" in c.value for c in at.caption)
    assert not at.error
    at.selectbox(key="train_loss").set_value("soft").run()
    assert any("loss 'soft' cannot train on 2 devices" in e.value for e in at.error)
