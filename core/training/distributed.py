"""Training on several devices, the processes: the supervisor (the train job's worker) that
launches torchrun and turns its end into the job's outcome, and each rank's entry point
(`python -m core.training.distributed runs/<RUN>/logs/launch.json`). What differs inside a
rank (its rank, the refusals, the trainer's hooks, its reporter and cancel vote) is
core/training/ddp.py's, whose docstring tells the whole story; `train_on_devices` is the train
job's one call, on one device or many.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.runs import RunFolder, folder
from core.training.ddp import (
    RankReporter,
    is_main,
    rank,
    stop_vote_callback,
    world_size,
)

if TYPE_CHECKING:
    from core.jobs import JobContext
    from core.store import Workspace
    from core.training.config import TrainConfig

POLL_S = 0.5  # seconds between the supervisor's looks at torchrun and the cancel flag


def check_records(ws: Workspace, config: TrainConfig) -> None:
    """Raise ValueError when the curated pairs cannot fill one step on every device."""
    if config.devices <= 1:
        return
    from core.training.signal import training_signal

    signal = training_signal(ws, config)
    if signal.steps == 0:
        per_step = config.devices * config.batch_size
        raise ValueError(
            f"{config.devices} devices x batch {config.batch_size} take {per_step} records a "
            f"step but there are {signal.pairs} training pairs: lower devices or batch_size"
        )


def _redirect_output(path: Path) -> None:
    # One log per rank, at a path the supervisor knows (torchrun's --log-dir adds random names).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def rank_main(launch_path: str) -> int:
    """The body of one rank: train_run with this rank's reporter; rank 0 writes the outcome."""
    from core.store import Workspace
    from core.training.config import TrainConfig
    from core.training.trainer import TrainingCancelled, train_run

    launch = json.loads(Path(launch_path).read_text())
    ws = Workspace.open(launch["workspace"])
    run_id = launch["run_id"]
    run = folder(ws, run_id)
    _redirect_output(run.rank_log(rank()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(f"rank {rank()} of {world_size()}, pid {os.getpid()}, run {run_id}", flush=True)
    run.rank_pid(rank()).write_text(str(os.getpid()))
    reporter = RankReporter(ws, launch["job_id"], run_id, run.cancel_file)
    config = TrainConfig.from_dict(launch["config"])
    try:
        result = train_run(
            ws,
            config,
            run_id,
            reporter,
            resume=bool(launch["resume"]),
            callbacks=[stop_vote_callback(reporter)],
        )
        outcome: dict[str, Any] = {"status": "succeeded", "result": result}
    except TrainingCancelled as exc:
        outcome = {"status": "cancelled", "message": str(exc)}
    if is_main():
        tmp = run.result_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(outcome, default=str))
        os.replace(tmp, run.result_file)
    logging.info("rank %d %s", rank(), outcome["status"])
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


# ------------------------------------------------------------------------- the supervisor
class RankFailed(RuntimeError):
    """A rank of a multi-device run died or raised; the message carries its log tail."""


def train_on_devices(
    reporter: Any, ws: Workspace, config: TrainConfig, run_id: str, resume: bool = False
) -> dict[str, Any]:
    """`train_run` for a job: in this process on one device, under torchrun on several (the
    reporter must then be the train job's JobContext, whose worker supervises the ranks)."""
    from core.jobs import JobContext
    from core.training.trainer import train_run

    if resume:
        _record_devices(folder(ws, run_id), config.devices)
    if config.devices <= 1:
        return train_run(ws, config, run_id, reporter, resume=resume)
    if not isinstance(reporter, JobContext):
        raise ValueError("training on several devices runs as a train job (train --devices N)")
    return _supervise(reporter, config, run_id, resume)


def _record_devices(run: RunFolder, devices: int) -> None:
    # A resume keeps the run's settings (config.json) on the device count this job asks for;
    # the final fit reads it from there too.
    from core.training.config import TrainConfig

    path = run.config
    if path.is_file():
        saved = TrainConfig.from_json(path)
        if saved.devices != devices:
            saved.devices = devices
            saved.to_json(path)


def _launch_command(devices: int, launch_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free local port per run: concurrent runs never collide
        f"--nproc_per_node={devices}",
        "-m",
        "core.training.distributed",
        str(launch_path),
    ]


def _die_with_parent() -> None:
    # torchrun (and so its ranks) must not outlive a worker killed without a word.
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _supervise(ctx: JobContext, config: TrainConfig, run_id: str, resume: bool) -> dict[str, Any]:
    from core.jobs import JobCancelled
    from core.training.trainer import TrainingCancelled

    ws = ctx.ws
    run = folder(ws, run_id)
    run.logs.mkdir(parents=True, exist_ok=True)
    for stale in (run.cancel_file, run.result_file):
        stale.unlink(missing_ok=True)
    for old in run.logs.glob("rank-*"):
        old.unlink()
    launch = {
        "workspace": str(ws.root),
        "job_id": ctx.job_id,
        "run_id": run_id,
        "config": config.to_dict(),
        "resume": resume,
    }
    launch_path = run.launch_file
    launch_path.write_text(json.dumps(launch, indent=2))
    command = _launch_command(config.devices, launch_path)
    ctx.log.info("training on %d devices: %s", config.devices, " ".join(command))
    ctx.progress(0, 1, f"starting {config.devices} training processes", force=True)
    job_log = ctx.folder / "log.txt"
    with job_log.open("a") as log_file:
        launched_at = log_file.tell()  # torchrun's report is read from here on
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parents[2]),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent,
        )
    try:
        while proc.poll() is None:
            if ctx.cancelled and not run.cancel_file.exists():
                run.cancel_file.touch()
                ctx.log.info("cancel requested: the ranks save a checkpoint and stop")
            time.sleep(POLL_S)
    except BaseException:
        proc.terminate()  # the supervisor itself is going down: take the ranks with it
        proc.wait()
        raise
    ctx.log.info("torchrun exited with code %s", proc.returncode)
    outcome = _read_outcome(run.result_file)
    if proc.returncode == 0 and outcome.get("status") == "succeeded":
        return outcome["result"]
    if proc.returncode == 0 and outcome.get("status") == "cancelled":
        raise TrainingCancelled(outcome.get("message", "cancelled"))
    if ctx.cancelled and outcome.get("status") != "succeeded":
        raise JobCancelled()
    raise RankFailed(describe_failure(job_log, launched_at, run, proc.returncode))


def _read_outcome(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


_ROOT_CAUSE = re.compile(
    r"Root Cause \(first observed failure\):.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)",
    re.S,
)


def describe_failure(
    job_log: Path, offset: int, run: RunFolder, returncode: int, lines: int = 15
) -> str:
    """One line naming the rank that failed first (from the report torchrun wrote into the
    job log after `offset`) and how, then the last lines of that rank's log; torchrun's own
    tail when no rank is named."""
    from core.jobs import file_tail

    with job_log.open("rb") as f:
        f.seek(offset)
        report = f.read().decode("utf-8", errors="replace")[-64 * 1024 :]
    found = _ROOT_CAUSE.findall(report)
    if found:
        failed, code = int(found[-1][0]), int(found[-1][1])
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        path = run.rank_log(failed)
        return (
            f"rank {failed} of the multi-device run {how}; last lines of {path.name}:\n"
            f"{file_tail(path, lines)}"
        )
    return (
        f"the torchrun launcher exited with code {returncode}; last log lines:\n"
        f"{file_tail(job_log, lines)}"
    )


def resume_on_devices(ws: Workspace, job_id: str, devices: int | None) -> str:
    """Resume a training job, on `devices` devices when given (else its own count); returns
    the new job id. Refused, like a new run, when that count cannot train the run."""
    from core.jobs import JobError, get_job, resume_job
    from core.training.config import TrainConfig

    job = get_job(ws, job_id)
    if devices is None:
        return resume_job(ws, job_id)
    if job["kind"] != "train":
        raise JobError(f"job {job_id} is a {job['kind']} job: only training runs take devices")
    params_config = TrainConfig.from_dict({**job["params"].get("config", {}), "devices": devices})
    saved = folder(ws, job["run_id"]).config if job["run_id"] else None
    checked = params_config
    if saved is not None and saved.is_file():
        checked = TrainConfig.from_json(saved)
        checked.devices = devices
    checked.validate()
    check_records(ws, checked)
    return resume_job(ws, job_id, overrides={"config": params_config.to_dict()})


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1]))
