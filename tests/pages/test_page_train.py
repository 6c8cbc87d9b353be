"""AppTest of the Train page: empty workspace, start a real (1-step) run, follow it, runs table."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from core.jobs import wait_job
from core.runs import job_for_run
from tests.helpers import page_app
from tests.training_helpers import small_scifact


def _app(ws) -> AppTest:
    return page_app(ws, "4_Train.py", timeout_s=90)


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
    at.selectbox(key="train_f_device").set_value("cpu")
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


def _finished_run(ws, run_id: str, metrics: dict) -> None:
    """A run the one-click pipeline trained and finished, the pipeline since gone on to its
    evaluate stage (its job's line says so)."""
    from core import runs
    from core.store import now_iso

    runs.record_run(ws, run_id, {"base_model": "m", "loss": "mnrl"})
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, status, params, run_id, created_at, message, progress)"
            " VALUES ('auto-1', 'auto', 'running', '{}', NULL, ?, ?, 0.9)",
            (now_iso(), "stage 6/6 evaluate: scoring 23 queries"),
        )
    runs.claim_run(ws, run_id, "auto-1")
    model = runs.folder(ws, run_id).model
    model.mkdir(parents=True)
    (model / "modules.json").write_text("[]")
    runs.finish_run(ws, run_id, metrics)


def test_a_finished_run_says_it_finished_with_its_result(ws, monkeypatch):
    monkeypatch.setattr("core.jobs.pid_alive", lambda pid: True)  # the pipeline goes on
    _finished_run(
        ws,
        "r-split",
        {
            "steps": 120,
            "train_seconds": 331.0,
            "train_loss": 0.2312,
            "validation": {"cosine_ndcg@10": 0.8124},
            "validation_base": {"cosine_ndcg@10": 0.7901},
        },
    )
    at = _app(ws).run()
    assert not at.exception
    lines = [e.value for e in (*at.success, *at.caption, *at.info)]
    assert (
        "Run r-split finished: 120 steps in 5m31s, train loss 0.2312, validation nDCG@10 "
        "0.812 (base 0.790, +0.022). Model: runs/r-split/model"
    ) in lines
    assert not any("evaluate" in line for line in lines)
    assert not at.get("progress")


def test_the_runs_table_shows_a_dash_for_a_missing_score(ws):
    _finished_run(ws, "r-noval", {"steps": 4, "train_loss": 0.5})  # no validation split
    at = _app(ws).run()
    assert not at.exception
    row = at.dataframe[-1].value.iloc[0]  # the runs table
    assert row["val nDCG@10 base"] == "—" and row["val nDCG@10 tuned"] == "—"
    assert any("no validation split to score it on" in s.value for s in at.success)


def test_moe_settings_wait_until_moe_is_on(ws):
    _finished_run(ws, "r-1", {"steps": 4})  # a run: the page offers a new one
    at = _app(ws).run()
    assert not at.exception
    moe_settings = ("train_f_moe_num_experts", "train_f_moe_aux_weight")
    assert all(at.number_input(key=k).disabled for k in moe_settings)
    assert at.text_input(key="train_f_moe_layers").disabled
    at.checkbox(key="train_f_moe").check().run()
    assert not at.exception
    assert not any(at.number_input(key=k).disabled for k in moe_settings)
    assert not at.text_input(key="train_f_moe_layers").disabled
