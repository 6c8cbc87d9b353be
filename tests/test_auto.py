"""The one-click pipeline (core/auto.py): CLI defaults, progress lines, the CLI and Home's
button, and one real chained job on three small documents that is cancelled in the training
stage and resumed through the CLI without redoing the stages it had finished."""

from __future__ import annotations

import json
import logging
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
    assert lines[0] == "stage 5/7 train (fit 1 of 2): step 1/4"
    assert lines[1] == "stage 5/7 train (fit 1 of 2): step 2/4 · about 1m00s left in this stage"
    assert lines[2] == "stage 5/7 train (fit 2 of 2): step 1/4 · about 22s left in this stage"
    # The job's bar spans the pipeline: stage 5 of 7, 5/8 of the way through it.
    step, total, _ = ctx.calls[2]
    assert total == 7 * 1000 and step == 4 * 1000 + 625


def test_a_progress_line_shows_one_estimate(monkeypatch):
    """The trainer's own "ETA" of its fit gives way to the stage's estimate: never both."""
    ctx = _Ctx()
    stage = StageProgress(ctx, STAGES.index("train"))  # type: ignore[arg-type]
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("core.auto.time.monotonic", lambda: next(clock))
    stage.progress(1, 8, "step 1/8, loss 0.4213, ETA 1m10s")  # no stage rate yet: the trainer's
    stage.progress(2, 8, "step 2/8, loss 0.3120, ETA 5m31s")
    lines = [m for _, _, m in ctx.calls]
    assert lines[0] == f"stage 5/{len(STAGES)} train: step 1/8, loss 0.4213, ETA 1m10s"
    assert lines[1] == (
        f"stage 5/{len(STAGES)} train: step 2/8, loss 0.3120 · about 1m00s left in this stage"
    )


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


def _evaluate_cmd(ws: Workspace, *options: str) -> dict:
    """The params `embstudio evaluate WS OPTIONS…` runs with."""
    from core.cli import build_parser
    from core.cli.evaluation_cmds import evaluation_params

    return evaluation_params(ws, build_parser().parse_args(["evaluate", str(ws.root), *options]))


def test_the_demo_scores_the_final_fit_on_its_real_questions(tmp_path):
    from core.demo import QUESTIONS_DIR, build_demo_workspace

    ws, _ = build_demo_workspace(tmp_path / "demo")
    chosen = stage_settings(ws, "RUN", "RUN-all")["evaluate"]
    # What `embstudio evaluate WS --run RUN-all --beir DIR` runs: questions never trained on.
    assert chosen == _evaluate_cmd(ws, "--run", "RUN-all", "--beir", str(QUESTIONS_DIR))
    assert chosen["dataset"] == "beir" and chosen["runs"] == ["RUN-all"]


def test_a_question_set_is_scored_per_its_group_and_a_missing_one_falls_back(tmp_path):
    from core.demo import QUESTIONS_DIR
    from core.settings import StudioSettings, save_settings

    ws = Workspace.create(tmp_path / "ws")
    folder = str(QUESTIONS_DIR)
    save_settings(ws, StudioSettings(questions_dir=folder, questions_group="document"))
    chosen = stage_settings(ws, "RUN", "RUN-all")["evaluate"]
    assert chosen == _evaluate_cmd(ws, "--run", "RUN-all", "--beir", folder, "--group", "document")
    # No final fit (trained with --no-final-fit): the split run, still on the questions.
    assert stage_settings(ws, "RUN", None)["evaluate"]["runs"] == ["RUN"]
    # The folder is gone (a moved clone): today's held-out split of the split run.
    save_settings(ws, StudioSettings(questions_dir=str(tmp_path / "gone")))
    assert stage_settings(ws, "RUN", "RUN-all")["evaluate"] == _evaluate_cmd(ws, "--run", "RUN")


class _LogCtx(_Ctx):
    log = logging.getLogger("test_auto")


def test_the_evaluate_stage_keeps_the_headline_of_what_it_scored(tmp_path, monkeypatch):
    from core.auto import STAGE_FUNCTIONS, summary
    from core.demo import QUESTIONS_DIR
    from core.settings import StudioSettings, save_settings
    from tests.helpers import evaluation_payload

    ws = Workspace.create(tmp_path / "ws")
    save_settings(ws, StudioSettings(questions_dir=str(QUESTIONS_DIR)))
    scores = {"base": 0.70, "RUN-all": 0.74, "bm25": 0.72, "base+bm25": 0.76, "RUN-all+bm25": 0.8}
    seen: list[dict] = []

    def fake_run_evaluation(ws_, params, on_progress=None):
        seen.append(params)
        return evaluation_payload(scores, n=60)

    monkeypatch.setattr("core.evaluation.runner.run_evaluation", fake_run_evaluation)
    ctx = _LogCtx()
    train = {"result": {"run_id": "RUN", "final_run_id": "RUN-all"}, "seconds": 1.0}
    state = {"pipeline": "auto-x", "run_id": "RUN", "stages": {"train": train}}
    result = STAGE_FUNCTIONS["evaluate"](
        ws, state, StageProgress(ctx, STAGES.index("evaluate")), ctx
    )
    assert seen[0]["beir_dir"] == str(QUESTIONS_DIR) and seen[0]["runs"] == ["RUN-all"]
    assert result["evaluated_run_id"] == "RUN-all" and result["dataset"] == "beir"
    assert result["headline"]["best"] == "RUN-all+bm25" and result["headline"]["tuned_gains"]
    assert result["metrics"]["bm25"]["Recall@3"] == scores["bm25"] + 0.01
    state["stages"]["evaluate"] = {"result": result, "seconds": 2.0}
    out = summary(state)
    assert out["headline"]["n_queries"] == 60
    assert [m["label"] for m in out["models"]] == list(scores)


def test_the_geometry_stage_leaves_what_the_evaluate_page_shows(tmp_path, monkeypatch):
    from core.auto import STAGE_FUNCTIONS

    ws = Workspace.create(tmp_path / "ws")
    asked: list[dict] = []

    def fake_specs(ws_, params):
        asked.append(params)
        return ["base-spec", "run-spec"]

    def fake_geometry(ws_, specs, settings, on_progress=None):
        assert settings.projection == "umap" and settings.sample_cap == 1_000  # the default
        return {"models": {}, "summary": {"base": {"auc": 0.8}}, "points": {"kind": []}}

    monkeypatch.setattr("core.evaluation.runner.model_specs", fake_specs)
    monkeypatch.setattr("core.geometry.compute_geometry", fake_geometry)
    ctx = _LogCtx()
    evaluate = {"result": {"evaluated_run_id": "RUN-all"}, "seconds": 1.0}
    train = {"result": {"final_run_id": "RUN-all"}, "seconds": 1.0}
    state = {
        "pipeline": "auto-x",
        "run_id": "RUN",
        "stages": {"train": train, "evaluate": evaluate},
    }
    result = STAGE_FUNCTIONS["geometry"](
        ws, state, StageProgress(ctx, STAGES.index("geometry")), ctx
    )
    assert asked[0]["runs"] == ["RUN-all"] and asked[0]["references"] is False
    # The Evaluate page reads the newest succeeded "geometry" job's file.
    jobs = [j for j in list_jobs(ws, kind="geometry") if j["status"] == "succeeded"]
    assert [j["id"] for j in jobs] == [result["geometry_job"]]
    stored = json.loads((ws.root / jobs[0]["result"]["geometry_path"]).read_text())
    assert stored["summary"] == {"base": {"auc": 0.8}}


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
    _wait_for_message(ws, first["id"], "stage 5/7 train")
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
    assert {after[n]["job"] for n in ("train", "evaluate", "geometry")} == {second["id"]}
    assert resumed["state"]["attempts"] == [first["id"], second["id"]]
    # Nothing the first attempt finished was done again: same documents, pairs, mining.
    assert _counts(ws) == resumed["counts_at_cancel"]
    assert _counts(ws)["minings"] == 1
    log = log_path(ws, second["id"]).read_text()
    for n, name in enumerate(before, 1):
        assert f"stage {n}/7 {name}: done by job {first['id']}" in log
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
    # No question set in this workspace: base, the split run and the references.
    labels = ["base", run_id, "bm25", "base+bm25", f"{run_id}+bm25"]
    assert [m["label"] for m in report["models"]] == labels
    assert report["config"]["params"]["split"] == "test"
    assert report["dataset"]["queries"] > 0
    assert (
        report["comparison"]["wins"] + report["comparison"]["losses"] + report["comparison"]["ties"]
        == report["dataset"]["queries"]
    )
    assert list(result["metrics"]) == labels
    assert set(result["stage_seconds"]) == set(STAGES)
    # The geometry the Evaluate page shows: base vs the evaluated run.
    geometry = get_job(ws, result["geometry_job"])
    assert geometry["kind"] == "geometry" and geometry["status"] == "succeeded"
    assert geometry["params"]["runs"] == [run_id]


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
    result = resumed["second"]["result"]
    at = page_app(resumed["ws"], "0_Home.py").run()
    assert not at.exception
    from core.overview import plural

    asked = plural(result["headline"]["n_queries"], "held-out test question")
    said = [e.value for e in (*at.success, *at.info, *at.warning)]
    assert any(f"Best retriever on {asked}" in text for text in said), said
    assert any(c.value.startswith("Pipeline finished in") for c in at.caption)
    assert list(at.dataframe[0].value["label"]) == list(result["metrics"])
    labels = [b.label for b in at.button]
    assert "See every figure on the Evaluate page" in labels
