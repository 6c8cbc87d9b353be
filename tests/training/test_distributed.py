"""Training on two CPU processes under torchrun (gloo), as real jobs: the step count of N x
batch, one progress writer, a loadable model, a killed rank failing the job with its log, and
(slow) cancel then resume on another device count."""

from __future__ import annotations

import json
import math
import os
import signal
import time

import pytest

from core.jobs import STALE_AFTER_S, cancel_job, get_job, pid_alive, wait_job
from core.runs import RunFolder, last_checkpoint, list_runs, read_progress, run_status
from core.training.config import TrainConfig
from core.training.ddp import visible_gpus
from core.training.distributed import resume_on_devices
from core.training.jobs import start_training
from core.training.signal import steps_for
from tests.training_helpers import small_scifact

BATCH = 2


def two_devices(**kw) -> TrainConfig:
    """Two CPU processes, tiny batches and texts: a few real DDP steps in seconds."""
    base = dict(
        devices=2,
        device="cpu",
        batch_size=BATCH,
        epochs=1.0,
        negatives_per_query=0,
        learning_rate=5e-5,
        warmup_ratio=0.0,
        max_seq_length=32,
        validate_every_epoch=False,
        final_fit=False,
    )
    return TrainConfig(**{**base, **kw})


def _rank_pid(run_dir, rank: int) -> int:
    return int((run_dir / "logs" / f"rank-{rank}.pid").read_text())


def _wait_for_a_step(ws, run_id: str, job_id: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not [p for p in read_progress(ws.run_dir(run_id)) if p["type"] == "step"]:
        assert get_job(ws, job_id)["status"] in ("queued", "running"), get_job(ws, job_id)["error"]
        assert time.monotonic() < deadline, "no training step logged"
        time.sleep(0.3)


def test_objectives_ddp_cannot_serve_are_refused_in_one_line(ws, capsys):
    from core.cli import main

    with pytest.raises(ValueError, match="loss 'soft' cannot train on 2 devices") as err:
        two_devices(loss="soft").validate()
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="clp_missing 'generate'"):
        two_devices(loss="clp", clp_missing="generate").validate()
    two_devices(loss="clp").validate()  # skip: the same data on every rank, allowed
    too_many = max(2, visible_gpus() + 1)
    with pytest.raises(ValueError, match=rf"devices {too_many}: only \d+ GPU\(s\) visible"):
        two_devices(device="cuda", devices=too_many).validate()
    small_scifact(ws, n_queries=2, n_other=1, n_val=0)
    with pytest.raises(ValueError, match="records a step"):  # no full batch per device
        start_training(ws, two_devices(batch_size=64), spawn=False)
    assert not list_runs(ws)
    assert main(["train", str(ws.root), "--devices", "2", "--loss", "soft"]) == 1
    err_line = capsys.readouterr().err.strip()
    assert err_line.count("\n") == 0 and "cannot train on 2 devices" in err_line
    assert main(["jobs", str(ws.root), "--devices", "1"]) == 1  # --devices goes with --resume
    assert "--devices goes with --resume" in capsys.readouterr().err
    _, job_id = start_training(ws, two_devices(devices=1, batch_size=64), spawn=False)
    assert cancel_job(ws, job_id) == "cancelled"
    with pytest.raises(ValueError, match="records a step"):  # a resume is checked as a new run
        resume_on_devices(ws, job_id, 2)


def test_two_processes_train_one_model_and_a_dead_rank_fails_the_job(ws, capsys):
    from sentence_transformers import SentenceTransformer

    from core.cli import main

    small_scifact(ws, n_queries=4, n_other=2, n_val=0)
    argv = ["train", str(ws.root), "--devices", "2", "--batch-size", str(BATCH), "--epochs", "0.25"]
    argv += ["--negatives", "0", "--lr", "5e-5", "--no-final-fit", "--wait", "--json"]
    for key, value in two_devices().to_dict().items():
        if key in ("device", "max_seq_length", "warmup_ratio", "validate_every_epoch"):
            argv += ["--set", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    run = ws.run_dir(out["run_id"])
    metrics = out["metrics"]
    records = metrics["data"]["train_records"]
    # One full batch per device per step, the incomplete last round dropped.
    assert metrics["steps"] == math.ceil(records // BATCH // 2 * 0.25) >= 2
    assert metrics["objective_info"]["devices"] == {
        "devices": 2,
        "records_per_step": 2 * BATCH,
        "negatives_gathered_across_devices": True,
    }
    steps = [p for p in read_progress(run) if p["type"] == "step"]
    assert [p["step"] for p in steps] == list(range(1, metrics["steps"] + 1))  # rank 0 alone
    assert all(p["total"] == metrics["steps"] and p["loss"] > 0 for p in steps)
    assert get_job(ws, out["job_id"])["step"] == metrics["steps"]
    model = SentenceTransformer(out["model_path"], device="cpu")
    assert model.encode(["a question"]).shape == (1, 384)
    assert "| devices | `2` |" in (run / "model" / "README.md").read_text()
    assert "rank 1 of 2" in RunFolder(run).rank_log(1).read_text()

    # A rank killed mid-run: torchrun stops the other, the job fails with that rank's log.
    run_id, job_id = start_training(ws, two_devices(epochs=50.0))
    _wait_for_a_step(ws, run_id, job_id)
    pids = [_rank_pid(ws.run_dir(run_id), r) for r in (0, 1)]
    os.kill(pids[1], signal.SIGKILL)
    killed_at = time.monotonic()
    job = wait_job(ws, job_id, poll_s=0.2)
    assert time.monotonic() - killed_at < STALE_AFTER_S  # a single worker's bound
    assert job["status"] == "failed"
    first, *tail = job["error"].splitlines()
    assert "rank 1 of the multi-device run was killed by signal 9" in first
    assert any("rank 1 of 2" in line for line in tail)  # the dead rank's own log
    assert not any(pid_alive(p) for p in pids)  # no rank outlives its job
    assert run_status(ws, run_id) == "failed"


@pytest.mark.slow
def test_cancel_stops_every_rank_and_resume_continues_on_one_device(ws, capsys):
    from sentence_transformers import SentenceTransformer

    from core.cli import main

    small_scifact(ws, n_queries=4, n_other=2, n_val=0)
    run_id, job_id = start_training(ws, two_devices(epochs=1.5))
    run = ws.run_dir(run_id)
    _wait_for_a_step(ws, run_id, job_id)
    pids = [_rank_pid(run, r) for r in (0, 1)]
    assert cancel_job(ws, job_id) == "cancelling"
    job = wait_job(ws, job_id, poll_s=0.3)
    assert job["status"] == "cancelled", job["error"]
    assert not any(pid_alive(p) for p in pids)
    ckpt = last_checkpoint(run)
    assert ckpt is not None
    stopped_at = int(ckpt.name.split("-")[1])
    assert stopped_at >= 1 and not (run / "model").exists()

    assert main(["jobs", str(ws.root), "--resume", run_id, "--devices", "1", "--json"]) == 0
    job = wait_job(ws, json.loads(capsys.readouterr().out)["job_id"], poll_s=0.5)
    assert job["status"] == "succeeded", job["error"]
    assert TrainConfig.from_json(run / "config.json").devices == 1
    records = job["result"]["metrics"]["data"]["train_records"]
    # One device lays the run out anew (a batch per step) and continues from the checkpoint.
    total = steps_for(records, BATCH, 1.5)
    assert job["result"]["metrics"]["steps"] == total
    resumed = [p["step"] for p in read_progress(run) if p["type"] == "step"]
    assert resumed[-1] == total and stopped_at + 1 in resumed
    assert resumed.index(stopped_at + 1) == stopped_at  # no step before the checkpoint redone
    model = SentenceTransformer(job["result"]["model_path"], device="cpu")
    assert model.encode(["a question"]).shape == (1, 384)


@pytest.mark.slow
def test_a_killed_worker_takes_its_ranks_with_it(ws):
    small_scifact(ws, n_queries=4, n_other=2, n_val=0)
    run_id, job_id = start_training(ws, two_devices(epochs=50.0))
    _wait_for_a_step(ws, run_id, job_id)
    pids = [_rank_pid(ws.run_dir(run_id), r) for r in (0, 1)]
    os.kill(get_job(ws, job_id)["pid"], signal.SIGKILL)  # the supervisor, without a word
    deadline = time.monotonic() + STALE_AFTER_S
    while any(pid_alive(p) for p in pids):
        assert time.monotonic() < deadline, "ranks outlived their worker"
        time.sleep(0.2)
    assert wait_job(ws, job_id, poll_s=0.5)["status"] == "failed"
