"""Job faults (issue 9, case 3): dead workers, orphaned jobs, races on a run, full disks.

The fast tests use the tiny "sleep" job and in-process workers; the real training worker killed
with SIGKILL and resumed, and a training run that fills the disk, are marked slow
(`pytest -m slow tests/reliability`).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.cli import main as cli_main
from core.jobs import (
    JobContext,
    JobError,
    cancel_job,
    get_job,
    list_jobs,
    log_tail,
    refresh_stale,
    register_handler,
    resume_job,
    run_worker,
    start_job,
    wait_job,
)
from tests.conftest import REPO
from tests.helpers import run_python


def _wait_for(predicate, timeout: float = 60.0, poll: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def write_job(ctx: JobContext) -> dict[str, Any]:
    """Writes `mb` megabytes into the job folder in 64 KB blocks (for the disk-full case)."""
    block = b"x" * 65536
    with (ctx.folder / "big.bin").open("wb") as f:
        for i in range(int(ctx.params["mb"] * 16)):
            f.write(block)
            ctx.progress(i + 1, int(ctx.params["mb"] * 16))
    return {"ok": True}


register_handler("reliability-write", "tests.reliability.test_job_faults:write_job")


def _start_sleep_job_elsewhere(ws, steps: int, seconds: float) -> str:
    """Start a `sleep` job from a separate Python process that exits at once (a stand-in for
    the Streamlit server that started it); returns the job id."""
    starter = (
        "import sys; from core.jobs import start_job; from core.store import Workspace;"
        f" print(start_job(Workspace.open(sys.argv[1]), 'sleep',"
        f" {{'steps': {steps}, 'seconds': {seconds}}}))"
    )
    proc = run_python(starter, str(ws.root), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_job_outlives_the_process_that_started_it(ws):
    job_id = _start_sleep_job_elsewhere(ws, steps=15, seconds=0.2)  # the starter is gone
    job = wait_job(ws, job_id, poll_s=0.2)
    assert job["status"] == "succeeded" and job["step"] == 15
    assert list_jobs(ws)[0]["id"] == job_id  # a fresh reader (the reloaded page) sees it


def test_restarted_app_shows_the_job_started_by_the_old_one(ws):
    from streamlit.testing.v1 import AppTest

    job_id = _start_sleep_job_elsewhere(ws, steps=400, seconds=0.05)
    try:
        assert _wait_for(lambda: get_job(ws, job_id)["step"] >= 1)
        # A fresh session of the app (as after a server restart) finds the job in the database.
        at = AppTest.from_file(str(REPO / "pages" / "0_Home.py"), default_timeout=60)
        at.session_state["workspace_path"] = str(ws.root)
        at.run()
        assert not at.exception
        shown = [str(el.proto) for el in at.get("progress")]
        assert any("sleep" in p and "running" in p for p in shown), shown
    finally:
        os.kill(get_job(ws, job_id)["pid"], signal.SIGTERM)
        assert wait_job(ws, job_id, poll_s=0.1)["status"] == "cancelled"


def test_resume_right_after_a_crash_is_not_blocked_by_the_dead_worker(ws):
    job_id = start_job(ws, "sleep", {"steps": 500, "seconds": 0.05}, run_id="run-crash")
    assert _wait_for(lambda: get_job(ws, job_id)["step"] >= 1)
    os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)
    assert _wait_for(lambda: not os.path.exists(f"/proc/{get_job(ws, job_id)['pid']}/cmdline"))
    new_id = resume_job(ws, job_id)  # no page refresh or job listing in between
    assert get_job(ws, job_id)["status"] == "failed"
    with pytest.raises(JobError, match="already being written"):  # the run is busy again
        start_job(ws, "sleep", {"steps": 1}, run_id="run-crash")
    assert _wait_for(lambda: get_job(ws, new_id)["step"] >= 1)  # running: 500 steps to go
    cancel_job(ws, new_id)
    assert wait_job(ws, new_id, poll_s=0.1)["status"] == "cancelled"


def test_racing_starts_on_one_run_only_one_wins(ws):
    barrier = threading.Barrier(8)
    won: list[str] = []
    refused: list[str] = []

    def starter() -> None:
        barrier.wait()
        try:
            won.append(start_job(ws, "sleep", {"steps": 1}, run_id="run-shared", spawn=False))
        except JobError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=starter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(won) == 1 and len(refused) == 7
    assert all("already being written" in r for r in refused)
    assert [j["id"] for j in list_jobs(ws, active_only=True)] == won


def test_resume_of_an_active_run_is_refused(ws, capsys):
    job_id = start_job(ws, "sleep", {"steps": 300, "seconds": 0.05}, run_id="run-busy")
    try:
        assert _wait_for(lambda: get_job(ws, job_id)["status"] == "running")
        with pytest.raises(JobError, match="still running"):
            resume_job(ws, job_id)
        rc = cli_main(["jobs", str(ws.root), "--resume", "run-busy"])
        err = capsys.readouterr().err
        assert rc == 1 and len(err.strip().splitlines()) == 1 and "still running" in err
    finally:
        os.kill(get_job(ws, job_id)["pid"], signal.SIGTERM)
        assert wait_job(ws, job_id, poll_s=0.1)["status"] == "cancelled"


def test_unwritable_run_folder_is_reported_not_left_queued(ws):
    ws.runs_dir.mkdir(exist_ok=True)
    (ws.runs_dir / "run-blocked").write_text("a file where the run folder should be")
    with pytest.raises(JobError, match="cannot write the job folder"):
        start_job(ws, "sleep", {"steps": 1}, run_id="run-blocked")
    (job,) = list_jobs(ws)
    assert job["status"] == "failed" and "run-blocked" in job["error"]


def test_worker_that_cannot_open_its_folder_fails_with_reason(ws):
    job_id = start_job(ws, "sleep", {"steps": 1}, run_id="run-gone", spawn=False)
    folder = ws.run_dir("run-gone")
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    folder.write_text("replaced by a file")
    status = run_worker(ws, job_id)
    job = get_job(ws, job_id)
    assert status == job["status"] == "failed"
    assert "run-gone" in job["error"]


def test_disk_full_inside_a_job_is_reported_with_the_reason(ws):
    job_id = start_job(ws, "reliability-write", {"mb": 4}, spawn=False)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
    try:
        status = run_worker(ws, job_id)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    job = get_job(ws, job_id)
    assert status == "failed"
    assert "File too large" in job["error"]  # the OS reason, not a generic "failed"
    assert "File too large" in log_tail(ws, job_id, 50)


def test_killed_run_is_marked_failed_on_its_run_row_too(ws):
    # A run's status follows the job writing it: a worker killed without a word must not leave
    # its run "running" forever (the Train page lists runs with that status).
    from core import runs

    runs.record_run(ws, "run-k", {"base_model": "m", "loss": "mnrl"})
    job_id = start_job(ws, "sleep", {"steps": 500, "seconds": 0.05}, run_id="run-k")
    runs.attach_job(ws, "run-k", job_id)
    assert _wait_for(lambda: runs.run_status(ws, "run-k") == "running")
    assert _wait_for(lambda: get_job(ws, job_id)["step"] >= 1)
    t0 = time.time()
    os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)
    assert _wait_for(lambda: bool(refresh_stale(ws)) or get_job(ws, job_id)["status"] == "failed")
    assert time.time() - t0 < 30
    assert runs.run_status(ws, "run-k") == "failed"


def test_last_checkpoint_skips_one_cut_short(tmp_path):
    ckpts = tmp_path / "checkpoints"
    complete = ckpts / "checkpoint-2"
    complete.mkdir(parents=True)
    (complete / "model.safetensors").write_bytes(b"weights")
    (complete / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    partial = ckpts / "checkpoint-4"  # killed while saving: weights only, no trainer state
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    broken = ckpts / "checkpoint-6"  # killed while writing the trainer state itself
    broken.mkdir()
    (broken / "trainer_state.json").write_text('{"global_st')
    from core.runs import last_checkpoint

    assert last_checkpoint(tmp_path) == complete
    assert last_checkpoint(tmp_path / "nothing-here") is None


# ----------------------------------------------------------------------------- slow: training


def _tiny_training(ws, **kw):
    from core.mining import MiningSettings, mine_workspace
    from core.training.config import TrainConfig
    from tests.training_helpers import small_scifact

    small_scifact(ws, n_queries=16, n_other=10, n_val=0)
    mine_workspace(ws, MiningSettings(negatives=1))
    base = dict(
        batch_size=4,
        max_steps=30,
        checkpoint_steps=2,
        save_total_limit=2,
        negatives_per_query=1,
        max_seq_length=48,
        warmup_ratio=0.0,
        validate_every_epoch=False,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_sigkilled_training_worker_fails_fast_and_resumes_from_checkpoint(ws):
    from core.runs import last_checkpoint, read_progress, run_status
    from core.training.jobs import start_training

    run_id, job_id = start_training(ws, _tiny_training(ws, max_steps=12))
    run = ws.run_dir(run_id)
    # Killed as soon as the first checkpoint (step 2) is on disk, mid-way through the run.
    assert _wait_for(lambda: last_checkpoint(run) is not None, timeout=600, poll=0.2)
    killed_at = time.time()
    os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)
    assert _wait_for(lambda: get_job(ws, job_id)["status"] == "failed" or bool(refresh_stale(ws)))
    assert time.time() - killed_at < 30
    job = get_job(ws, job_id)
    assert job["status"] == "failed" and "died" in job["error"]
    assert "last log lines" in job["error"]
    tail = job["error"].split("last log lines:\n", 1)[1]
    assert tail.strip() and tail.splitlines()[-1] in log_tail(ws, job_id, 50)
    ckpt = last_checkpoint(run)
    assert ckpt is not None
    ckpt_step = int(ckpt.name.rsplit("-", 1)[1])
    steps_before = [p["step"] for p in read_progress(run) if p["type"] == "step"]

    new_id = resume_job(ws, job_id)
    done = wait_job(ws, new_id, poll_s=1.0)
    assert done["status"] == "succeeded", done["error"]
    steps = [p["step"] for p in read_progress(run) if p["type"] == "step"]
    resumed = steps[len(steps_before) :]
    assert resumed and resumed[0] == ckpt_step + 1  # continued, not restarted at step 1
    assert steps[-1] == 12 and (run / "model" / "modules.json").is_file()
    assert done["result"]["metrics"]["steps"] == 12
    assert run_status(ws, run_id) == "succeeded"


@pytest.mark.slow
def test_training_that_fills_the_disk_fails_with_the_reason(ws):
    from core.runs import run_status
    from core.training.jobs import start_training

    config = _tiny_training(ws, max_steps=4)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # The worker inherits the limit: logs and the database fit, a 90 MB checkpoint does not.
    resource.setrlimit(resource.RLIMIT_FSIZE, (20 * 1024 * 1024, hard))
    try:
        run_id, job_id = start_training(ws, config)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    job = wait_job(ws, job_id, poll_s=1.0)
    assert job["status"] == "failed"
    assert "too large" in job["error"].lower() or "no space" in job["error"].lower(), job["error"]
    assert run_status(ws, run_id) == "failed"
    assert json.loads((Path(ws.run_dir(run_id)) / "config.json").read_text())["max_steps"] == 4


@pytest.mark.slow
def test_sigkilled_generate_job_keeps_its_pairs_and_resume_finishes(tmp_path):
    from core.store import Workspace
    from tests.fake_openai import FakeOpenAI, default_answer
    from tests.gen_helpers import ingest_sample, openai_settings

    ws = ingest_sample(Workspace.create(tmp_path / "ws"))

    def slow_answer(messages):
        time.sleep(0.5)  # time to kill the worker between batches
        return default_answer(messages)

    def pairs() -> list[tuple]:
        with ws.connect() as conn:
            return [tuple(r) for r in conn.execute("SELECT id, query, status FROM pairs")]

    with FakeOpenAI() as fake:
        fake.answer = slow_answer
        params = openai_settings(
            fake,
            limit_chunks=8,
            batch_chunks=1,
            judge="heuristic",
            concurrency=1,
            max_retries=4,  # the defaults: this run's requests are slow, not failing
            timeout_s=60.0,
        ).to_params()
        job_id = start_job(ws, "generate", params)
        assert _wait_for(lambda: len(pairs()) >= 2, timeout=600, poll=0.2)
        os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)
        assert _wait_for(
            lambda: get_job(ws, job_id)["status"] == "failed" or bool(refresh_stale(ws))
        )
        before = pairs()
        with ws.connect() as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            logged = conn.execute("SELECT COUNT(*) FROM generation_log").fetchone()[0]
        assert logged == len(before)  # each committed batch has its pair and its log row
        fake.answer = default_answer
        done = wait_job(ws, resume_job(ws, job_id), poll_s=0.5)
        assert done["status"] == "succeeded", done["error"]
    after = pairs()
    assert after[: len(before)] == before and len(after) == 8
