"""The one-click pipeline (core/auto.py): CLI defaults, progress lines, the CLI and Home's
button, and one real chained job on three small documents that is cancelled in the training
stage and resumed through the CLI without redoing the stages it had finished."""

from __future__ import annotations

import json
import time

import pytest

from core.auto import STAGES, StageProgress, load_state, stage_settings, start_auto
from core.cli import main
from core.evaluation.report import list_evaluations, load_report
from core.jobs import JobError, cancel_job, get_job, list_jobs, log_path, wait_job
from core.runs import list_runs
from core.store import Workspace
from tests.helpers import page_app, tiny_documents

# ----------------------------------------------------------------------------- fast


def test_every_stage_runs_with_its_commands_defaults_and_the_saved_settings(tmp_path):
    from core.settings import RunDefaults, StudioSettings, save_settings
    from core.training.config import TrainConfig

    ws = Workspace.create(tmp_path / "ws")
    defaults = stage_settings(ws, "RUN")
    assert defaults["generate"].kinds == ("ict",)  # the no-label default, no LLM
    assert defaults["train"].final_fit  # the final fit is trained, as `embstudio train` does
    assert defaults["train"].max_steps == TrainConfig().max_steps  # no step limit
    assert defaults["evaluate"]["dataset"] == "workspace"
    assert defaults["evaluate"]["split"] == "test"
    assert defaults["evaluate"]["runs"] == ["RUN"]
    # The commands with no option run the same (their parsers add no value of their own).
    from core.cli import build_parser
    from core.cli.evaluation_cmds import evaluation_params
    from core.cli.generation_cmds import generate_settings
    from core.cli.training_cmds import build_config, mining_settings

    parse, root = build_parser().parse_args, str(ws.root)
    assert defaults["generate"] == generate_settings(ws, parse(["generate", root]))
    assert defaults["mine"] == mining_settings(ws, parse(["mine", root]))
    assert defaults["train"] == build_config(parse(["train", root]))
    assert defaults["evaluate"] == evaluation_params(ws, parse(["evaluate", root, "--run", "RUN"]))

    # What the Settings page saves reaches the pipeline's stages as it reaches the commands.
    save_settings(
        ws, StudioSettings(defaults=RunDefaults(train_max_steps=7, generate_limit_chunks=3))
    )
    saved = stage_settings(ws, "RUN")
    assert saved["train"].max_steps == 7
    assert saved["generate"].limit_chunks == 3


class _Ctx:
    """Stands in for a JobContext: records what the stage reports."""

    cancelled = False

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str]] = []

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        self.calls.append((step, total, message))


def test_progress_line_names_the_stage_counts_and_eta(monkeypatch):
    ctx = _Ctx()
    stage = StageProgress(ctx, STAGES.index("train"))  # type: ignore[arg-type]
    clock = iter([100.0, 110.0, 130.0])
    monkeypatch.setattr("core.auto.time.monotonic", lambda: next(clock))
    stage.set_fit(0, 2)
    stage.progress(1, 4, "step 1/4")  # first move: no rate yet
    stage.progress(2, 4, "step 2/4")  # 1/8 of the stage in 10 s: 6/8 left, 60 s
    stage.set_fit(1, 2)
    stage.progress(1, 4, "step 1/4")  # 5/8 done: 4/8 in 30 s, 3/8 left, 22.5 s
    lines = [m for _, _, m in ctx.calls]
    assert lines[0] == "stage 5/6 train (fit 1 of 2): step 1/4"
    assert lines[1] == "stage 5/6 train (fit 1 of 2): step 2/4 · about 1m00s left in this stage"
    assert lines[2] == "stage 5/6 train (fit 2 of 2): step 1/4 · about 22s left in this stage"
    # The job's bar spans the pipeline: stage 5 of 6, 5/8 of the way through it.
    step, total, _ = ctx.calls[2]
    assert total == 6 * 1000 and step == 4 * 1000 + 625


def test_a_progress_line_shows_one_estimate(monkeypatch):
    """The trainer's own "ETA" of its fit gives way to the stage's estimate: never both."""
    ctx = _Ctx()
    stage = StageProgress(ctx, STAGES.index("train"))  # type: ignore[arg-type]
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("core.auto.time.monotonic", lambda: next(clock))
    stage.progress(1, 8, "step 1/8, loss 0.4213, ETA 1m10s")  # no stage rate yet: the trainer's
    stage.progress(2, 8, "step 2/8, loss 0.3120, ETA 5m31s")
    lines = [m for _, _, m in ctx.calls]
    assert lines[0] == "stage 5/6 train: step 1/8, loss 0.4213, ETA 1m10s"
    assert lines[1] == "stage 5/6 train: step 2/8, loss 0.3120 · about 1m00s left in this stage"


def test_cli_auto_refuses_what_it_cannot_run(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "ws")
    assert main(["auto", str(ws.root)]) == 1
    assert "no documents: name the files to ingest" in capsys.readouterr().err
    assert main(["auto", str(ws.root), str(tmp_path / "missing.md")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert list_jobs(ws) == []


def test_one_pipeline_at_a_time(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    docs = tiny_documents(tmp_path / "docs")
    job_id = start_auto(ws, docs, spawn=False)
    params = get_job(ws, job_id)["params"]
    assert params["files"] == [str(p.resolve()) for p in docs]
    with pytest.raises(JobError, match="already running"):
        start_auto(ws, docs, spawn=False)
    cancel_job(ws, job_id)


def test_home_button_starts_cancels_and_resumes_the_pipeline(tmp_path):
    from core.ingest import ingest_paths

    ws = Workspace.create(tmp_path / "ws")
    ingest_paths(ws, tiny_documents(tmp_path / "docs"))
    at = page_app(ws, "0_Home.py").run()
    assert not at.exception
    at.button(key="home_auto_start").click().run()
    assert not at.exception, at.exception
    job = list_jobs(ws, kind="auto")[0]
    assert job["params"]["files"] == []  # the workspace's own documents
    assert "Next step" not in [h.value for h in at.subheader]  # the pipeline is the next step
    cancel = [b for b in at.button if b.key == f"home_auto_cancel_{job['id']}"]
    assert cancel, "the running pipeline has a Cancel button"
    cancel[0].click().run()
    assert wait_job(ws, job["id"], poll_s=0.2)["status"] == "cancelled"

    at = page_app(ws, "0_Home.py").run()
    assert any("The last pipeline run was cancelled at stage" in w.value for w in at.warning)
    at.button(key="home_auto_resume").click().run()
    assert not at.exception, at.exception
    resumed = list_jobs(ws, kind="auto")[0]
    assert resumed["id"] != job["id"]
    assert resumed["params"] == {**job["params"], "resume": True}
    cancel_job(ws, resumed["id"])
    wait_job(ws, resumed["id"], poll_s=0.2)


def test_make_run_starts_the_pipeline_on_a_new_demo_only(tmp_path, capsys):
    root = str(tmp_path / "demo")
    assert main(["demo", root, "--auto", "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out)["auto_job"]
    ws = Workspace.open(root)
    job = get_job(ws, job_id)
    assert job["kind"] == "auto" and job["params"]["files"] == []
    cancel_job(ws, job_id)
    wait_job(ws, job_id, poll_s=0.2)
    assert main(["demo", root, "--auto", "--json"]) == 0  # `make run` again keeps the work
    assert json.loads(capsys.readouterr().out)["auto_job"] is None
    assert [j["id"] for j in list_jobs(ws, kind="auto")] == [job_id]


# ----------------------------------------------------------------------------- one real run


def _wait_for_message(ws: Workspace, job_id: str, prefix: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = get_job(ws, job_id)
        if (job["message"] or "").startswith(prefix):
            return
        assert job["status"] in ("queued", "running"), f"{job['status']}: {job['error']}"
        time.sleep(0.2)  # polling the job row: the worker is another process
    raise AssertionError(f"job {job_id} never reported {prefix!r}")


def _counts(ws: Workspace) -> dict[str, int]:
    with ws.connect() as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("documents", "chunks", "pairs", "generation_log", "minings")
        }


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """`embstudio auto WS DOCS`, cancelled (`jobs --cancel`) in the training stage, then
    resumed (`jobs --resume`) to the end."""
    root = tmp_path_factory.mktemp("auto")
    ws = Workspace.create(root / "ws")
    docs = tiny_documents(root / "docs")
    assert main(["auto", str(ws.root), str(root / "docs")]) == 0
    first = list_jobs(ws, kind="auto")[0]
    _wait_for_message(ws, first["id"], "stage 5/6 train")
    assert main(["jobs", str(ws.root), "--cancel", first["id"]]) == 0
    cancelled = wait_job(ws, first["id"], poll_s=0.2)
    state_at_cancel = load_state(ws, first["params"]["pipeline"])
    counts_at_cancel = _counts(ws)
    assert main(["jobs", str(ws.root), "--resume", first["id"]]) == 0
    second = list_jobs(ws, kind="auto")[0]
    done = wait_job(ws, second["id"], poll_s=0.5)
    return {
        "ws": ws,
        "docs": docs,
        "first": cancelled,
        "second": done,
        "state_at_cancel": state_at_cancel,
        "counts_at_cancel": counts_at_cancel,
        "state": load_state(ws, first["params"]["pipeline"]),
    }


@pytest.mark.slow
def test_cancel_mid_way_then_resume_skips_the_finished_stages(resumed):
    ws, first, second = resumed["ws"], resumed["first"], resumed["second"]
    assert first["status"] == "cancelled"
    assert second["status"] == "succeeded", second["error"]
    before = resumed["state_at_cancel"]["stages"]
    assert list(before) == ["ingest", "generate", "accept", "mine"]
    assert before["ingest"]["result"]["ingested"] == len(resumed["docs"])
    after = resumed["state"]["stages"]
    assert list(after) == list(STAGES)
    for name in before:  # recorded once, by the first attempt
        assert after[name] == before[name]
    assert {after[n]["job"] for n in ("train", "evaluate")} == {second["id"]}
    assert resumed["state"]["attempts"] == [first["id"], second["id"]]
    # Nothing the first attempt finished was done again: same documents, pairs, mining.
    assert _counts(ws) == resumed["counts_at_cancel"]
    assert _counts(ws)["minings"] == 1
    log = log_path(ws, second["id"]).read_text()
    for n, name in enumerate(before, 1):
        assert f"stage {n}/6 {name}: done by job {first['id']}" in log
    # The training run the first attempt started is the one that finished (from its checkpoint).
    assert second["result"]["run_id"] == resumed["state_at_cancel"]["run_id"]


@pytest.mark.slow
def test_the_result_is_a_stored_evaluation_of_the_split_run(resumed):
    ws, result = resumed["ws"], resumed["second"]["result"]
    run_id = result["run_id"]
    assert result["final_run_id"] == f"{run_id}-all"
    statuses = {r["id"]: r["status"] for r in list_runs(ws)}
    assert statuses == {run_id: "succeeded", f"{run_id}-all": "succeeded"}
    evaluations = list_evaluations(ws)
    assert len(evaluations) == 1  # what the Evaluate page lists and shows first
    report = load_report(ws, evaluations[0]["report_path"])
    assert report["id"] == result["evaluation_id"]
    assert [m["label"] for m in report["models"]] == ["base", run_id]
    assert report["config"]["params"]["split"] == "test"
    assert report["dataset"]["queries"] > 0
    assert (
        report["comparison"]["wins"] + report["comparison"]["losses"] + report["comparison"]["ties"]
        == report["dataset"]["queries"]
    )
    assert set(result["metrics"]) == {"base", run_id}
    assert set(result["stage_seconds"]) == set(STAGES)


@pytest.mark.slow
def test_cli_lists_and_prints_the_finished_pipeline(resumed, capsys):
    from core.cli.auto_cmds import result_text

    ws, second = resumed["ws"], resumed["second"]
    assert main(["jobs", str(ws.root), "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    auto = [j for j in jobs if j["kind"] == "auto"]
    assert [j["status"] for j in auto] == ["succeeded", "cancelled"]
    text = result_text(second["result"])
    assert f"final fit (the model to ship): {second['result']['final_run_id']}" in text
    assert "nDCG@10" in text and second["result"]["evaluation_id"] in text


@pytest.mark.slow
def test_home_shows_the_result_and_the_way_to_evaluate(resumed):
    at = page_app(resumed["ws"], "0_Home.py").run()
    assert not at.exception
    assert any(s.value.startswith("Pipeline finished in") for s in at.success)
    assert any(m.label.startswith("NDCG@10 tuned (base ") for m in at.metric)
    labels = [b.label for b in at.button]
    assert "See base vs tuned on the Evaluate page" in labels
