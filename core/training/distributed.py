"""Training on several devices: the same run under torchrun, sentence-transformers' trainer in
DDP (DESIGN.md section 6, issue 17). Nothing here schedules work: torch.distributed.run starts
and watches the processes, the trainer and accelerate do the data-parallel maths.

A job whose `TrainConfig.devices` is N > 1 does not train in its worker. The worker becomes the
supervisor of `python -m torch.distributed.run --standalone --nproc_per_node N -m
core.training.distributed runs/<RUN>/logs/launch.json`, and every rank calls the ordinary
`train_run` with a `RankReporter`:

- supervisor (the job worker: its pid and heartbeat are the job's): writes launch.json, runs
  torchrun with its output in the job's log.txt, turns a cancel (SIGTERM to the worker) into the
  file logs/cancel, and ends the job from logs/result.json (written by rank 0) or, when a rank
  died, with that rank's own log tail. torchrun notices a dead rank within its 0.1 s monitor
  interval and stops the others, so the job fails within seconds, inside the bound a single
  worker has (`core.jobs.STALE_AFTER_S`).
- rank 0 writes everything `train_run` writes: config.json, the runs row, progress.jsonl, the
  job's progress, checkpoints, the model, metrics and the card. Other ranks write only their
  log (logs/rank-R.txt) and the per-rank RNG state the trainer keeps in each checkpoint.
- all ranks vote after every optimizer step (one all-reduce of one number on a CPU gloo group,
  so no GPU sync) on whether rank 0 saw the cancel file: every rank then saves the same
  checkpoint and stops at the same step, and `--resume` continues from it on the same or
  another device count (the trainer lays the remaining steps out for the new count).

Batches: each rank takes whole batches of `batch_size` (accelerate shards the batch sampler),
so a step trains devices x batch_size records; the last incomplete round of batches in an epoch
is dropped so every rank steps the same number of times with equally sized batches (the
all-gather of in-batch negatives needs both). mnrl and cached-mnrl gather in-batch negatives
across devices (sentence-transformers' `gather_across_devices`): each query is scored against
every device's passages. Objectives with several datasets (dual) send one dataset's batch to
one device and the other's to the next, so they keep per-device negatives; objectives that
build their data with work every rank would redo on its own (soft, clp generating q*) are
refused with the reason.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.devices import resolve_device
from core.devices import world_size as world_size  # processes training together

if TYPE_CHECKING:
    from core.jobs import JobContext
    from core.store import Workspace
    from core.training.config import TrainConfig
    from core.training.objectives import ObjectiveBuild

POLL_S = 0.5  # seconds between the supervisor's looks at torchrun and the cancel flag
CANCEL_FILE = "cancel"  # logs/cancel: the supervisor's word to rank 0 that the job is cancelled
RESULT_FILE = "result.json"  # logs/result.json: rank 0's outcome, read by the supervisor
LAUNCH_FILE = "launch.json"  # logs/launch.json: what every rank trains

# Objectives whose data building every rank would repeat on its own: refused under DDP.
REFUSED: dict[str, str] = {
    "soft": "every device's process would score all pairs with the expert models again "
    "(and call an embeddings API once per device)",
}


# ------------------------------------------------------------------------- where am I
def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True in the one process that writes the run folder, the database rows and progress."""
    return rank() == 0


@functools.cache
def visible_gpus() -> int:
    """CUDA devices this process may use; the Train page offers a Devices field only when
    there are at least two. torch counts them once imported; before that `nvidia-smi -L`
    does, so the page never waits seconds for torch to import."""
    if "torch" in sys.modules:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    count = sum(line.startswith("GPU ") for line in listed.stdout.splitlines())
    if visible:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


# ------------------------------------------------------------------------- refusals
def device_errors(config: TrainConfig) -> list[str]:
    """Why `config` cannot train on `config.devices` devices (empty when it can); one short
    sentence each, checked by `TrainConfig.validate` so CLI and page refuse before work."""
    n = config.devices
    if not isinstance(n, int) or n < 1:
        return [f"devices must be a whole number >= 1 (got {n!r})"]
    if n == 1:
        return []
    errors = []
    device = resolve_device(config.device)
    if device == "mps":
        errors.append("devices: Apple's mps backend is one device; set devices to 1")
    elif device == "cuda" and n > visible_gpus():
        errors.append(f"devices {n}: only {visible_gpus()} GPU(s) visible")
    elif device == "cpu" and n > (os.cpu_count() or 1):
        errors.append(f"devices {n}: this machine has {os.cpu_count()} CPU cores")
    return errors + objective_errors(config)


def objective_errors(config: TrainConfig) -> list[str]:
    """Why `config`'s objective cannot train on `config.devices` devices (no torch needed)."""
    n = config.devices
    if not isinstance(n, int) or n <= 1:
        return []
    errors = []
    if config.loss in REFUSED:
        errors.append(
            f"loss {config.loss!r} cannot train on {n} devices: {REFUSED[config.loss]}; "
            "use devices 1"
        )
    if config.loss == "clp" and config.clp_missing == "generate":
        errors.append(
            f"clp with clp_missing 'generate' cannot train on {n} devices: every device would "
            "write its own q* queries; use clp_missing 'skip' or devices 1"
        )
    return errors


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


# ------------------------------------------------------------------------- trainer hooks
def trainer_args(device: str) -> dict[str, Any]:
    """Extra SentenceTransformerTrainingArguments under torchrun ({} on one device)."""
    if world_size() <= 1:
        return {}
    return {
        "ddp_backend": "gloo" if device == "cpu" else "nccl",
        # Equal batches on every rank, equal step counts: see the module docstring.
        "dataloader_drop_last": True,
    }


def share_negatives(build: ObjectiveBuild, batch_size: int) -> None:
    """Under DDP, make every loss that can gather in-batch negatives across devices do so,
    and record what the run did in `build.info` (the model card and metrics show it)."""
    n = world_size()
    if n <= 1:
        return
    gathered = False
    if not isinstance(build.loss, dict):  # one dataset: every rank computes the same loss
        for module in build.loss.modules():
            if hasattr(module, "gather_across_devices"):
                module.gather_across_devices = True
                gathered = True
    build.info["devices"] = {
        "devices": n,
        "records_per_step": n * batch_size,
        "negatives_gathered_across_devices": gathered,
    }


# ------------------------------------------------------------------------- one rank
class RankReporter:
    """The trainer's Reporter inside one rank: rank 0 writes the job's progress row; every
    rank reads `stop`, the outcome of the last cancel vote (see `stop_vote_callback`)."""

    def __init__(self, ws: Workspace, job_id: str, run_id: str, cancel_file: Path) -> None:
        from core.jobs import JobContext

        self.stop = False
        self.cancel_file = cancel_file
        self.job_id = job_id  # the run's status follows the supervising train job
        self._job: JobContext | None = None
        if is_main():
            folder = ws.run_dir(run_id)
            logger = logging.getLogger("embstudio.training")
            self._job = JobContext(ws, job_id, "train", {}, run_id, folder, logger)

    @property
    def cancelled(self) -> bool:
        return self.stop

    def wants_stop(self) -> bool:
        """This rank's vote: rank 0 votes to stop once the supervisor wrote the cancel file."""
        return is_main() and self.cancel_file.exists()

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        if self._job is not None:
            self._job.progress(step, total, message, force=force)


def stop_vote_callback(reporter: RankReporter):
    """A TrainerCallback that, after each optimizer step, sets `reporter.stop` on every rank
    to whether any rank wants to stop (listed before the progress callback, which then saves
    a checkpoint and stops the same step everywhere)."""
    import torch
    import torch.distributed as dist
    from transformers import TrainerCallback

    class StopVote(TrainerCallback):
        def __init__(self) -> None:
            self.group = None

        def on_train_begin(self, args, state, control, **kw):
            # A gloo group for the vote: a CPU all-reduce never waits on the GPU's queue.
            if dist.get_backend() != "gloo":
                self.group = dist.new_group(backend="gloo")

        def on_step_end(self, args, state, control, **kw):
            vote = torch.tensor([1 if reporter.wants_stop() else 0])
            dist.all_reduce(vote, op=dist.ReduceOp.MAX, group=self.group)
            reporter.stop = bool(vote.item())
            return control

    return StopVote()


def _redirect_output(path: Path) -> None:
    # One log per rank, at a path the supervisor knows (torchrun's --log-dir adds random names).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def rank_log(run_dir: Path, rank_index: int) -> Path:
    """The log file of one rank of the run's last multi-device launch."""
    return Path(run_dir) / "logs" / f"rank-{rank_index}.txt"


def rank_main(launch_path: str) -> int:
    """The body of one rank: train_run with this rank's reporter; rank 0 writes the outcome."""
    from core.store import Workspace
    from core.training.config import TrainConfig
    from core.training.trainer import TrainingCancelled, train_run

    launch = json.loads(Path(launch_path).read_text())
    ws = Workspace.open(launch["workspace"])
    run_id = launch["run_id"]
    logs = ws.run_dir(run_id) / "logs"
    _redirect_output(rank_log(ws.run_dir(run_id), rank()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(f"rank {rank()} of {world_size()}, pid {os.getpid()}, run {run_id}", flush=True)
    (logs / f"rank-{rank()}.pid").write_text(str(os.getpid()))
    reporter = RankReporter(ws, launch["job_id"], run_id, logs / CANCEL_FILE)
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
        tmp = logs / f"{RESULT_FILE}.tmp"
        tmp.write_text(json.dumps(outcome, default=str))
        os.replace(tmp, logs / RESULT_FILE)
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
        _record_devices(ws.run_dir(run_id), config.devices)
    if config.devices <= 1:
        return train_run(ws, config, run_id, reporter, resume=resume)
    if not isinstance(reporter, JobContext):
        raise ValueError("training on several devices runs as a train job (train --devices N)")
    return _supervise(reporter, config, run_id, resume)


def _record_devices(run_dir: Path, devices: int) -> None:
    # A resume keeps the run's settings (config.json) on the device count this job asks for;
    # the final fit reads it from there too.
    from core.training.config import TrainConfig

    path = run_dir / "config.json"
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
    run_dir = ws.run_dir(run_id)
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in (CANCEL_FILE, RESULT_FILE):
        (logs / name).unlink(missing_ok=True)
    for old in logs.glob("rank-*"):
        old.unlink()
    launch = {
        "workspace": str(ws.root),
        "job_id": ctx.job_id,
        "run_id": run_id,
        "config": config.to_dict(),
        "resume": resume,
    }
    launch_path = logs / LAUNCH_FILE
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
            if ctx.cancelled and not (logs / CANCEL_FILE).exists():
                (logs / CANCEL_FILE).touch()
                ctx.log.info("cancel requested: the ranks save a checkpoint and stop")
            time.sleep(POLL_S)
    except BaseException:
        proc.terminate()  # the supervisor itself is going down: take the ranks with it
        proc.wait()
        raise
    ctx.log.info("torchrun exited with code %s", proc.returncode)
    outcome = _read_outcome(logs / RESULT_FILE)
    if proc.returncode == 0 and outcome.get("status") == "succeeded":
        return outcome["result"]
    if proc.returncode == 0 and outcome.get("status") == "cancelled":
        raise TrainingCancelled(outcome.get("message", "cancelled"))
    if ctx.cancelled and outcome.get("status") != "succeeded":
        raise JobCancelled()
    raise RankFailed(describe_failure(job_log, launched_at, run_dir, proc.returncode))


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
    job_log: Path, offset: int, run_dir: Path, returncode: int, lines: int = 15
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
        path = rank_log(run_dir, failed)
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
    run_dir = ws.run_dir(job["run_id"]) if job["run_id"] else None
    checked = params_config
    if run_dir is not None and (run_dir / "config.json").is_file():
        checked = TrainConfig.from_json(run_dir / "config.json")
        checked.devices = devices
    checked.validate()
    check_records(ws, checked)
    return resume_job(ws, job_id, overrides={"config": params_config.to_dict()})


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1]))
