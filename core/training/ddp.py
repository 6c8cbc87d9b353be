"""Training on several devices: the same run under torchrun, sentence-transformers' trainer in
DDP (docs/ARCHITECTURE.md, "Training", issue 17). Nothing here schedules work:
torch.distributed.run starts and watches the processes, the trainer and accelerate do the
data-parallel maths. This module holds what a process knows under torchrun (its rank, the
refusals, the trainer's hooks, a rank's reporter and its cancel vote); the supervisor that
launches torchrun and each rank's entry point are core/training/distributed.py's.

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
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.devices import resolve_device
from core.devices import world_size as world_size  # processes training together

if TYPE_CHECKING:
    from core.jobs import JobContext
    from core.store import Workspace
    from core.training.objectives import ObjectiveBuild

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
class DevicePlan(Protocol):
    """What the refusals read of a TrainConfig (core/training/config.py calls them from
    `validate`, so they take its fields rather than import it)."""

    @property
    def devices(self) -> int: ...

    @property
    def device(self) -> str: ...

    @property
    def loss(self) -> str: ...

    @property
    def clp_missing(self) -> str: ...


def device_errors(config: DevicePlan) -> list[str]:
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


def objective_errors(config: DevicePlan) -> list[str]:
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
