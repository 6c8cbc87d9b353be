"""Fine-tuning with sentence-transformers' trainer (docs/ARCHITECTURE.md, "Training").

`train_run` reads the workspace's curated pairs and latest negatives, builds the objective
named in the config from the registry, and trains with `BatchSamplers.NO_DUPLICATES` (a query
never appears twice in a batch, so no in-batch negative is a copy of its positive), seeds
fixed, the validation split scored every epoch and the best checkpoint kept. The run (its row,
folder and status) is core/runs.py's: the trainer records it, claims it for its job, fills its
folder and finishes it. MoE (core/modeling/moe.py) is applied here, once, whatever the
objective. A cancel saves a checkpoint and stops; `resume=True` continues from the last
checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core import runs
from core.devices import resolve_device
from core.modeling.moe import apply_moe
from core.store import Workspace
from core.training import ddp
from core.training.config import TrainConfig
from core.training.data import TrainingData, load_training_data
from core.training.objectives import get_objective

log = logging.getLogger("embstudio.training")
BEST_METRIC = "cosine_ndcg@10"


class Reporter(Protocol):
    """What the trainer needs from a JobContext (its job id, progress, cancel flag)."""

    @property
    def job_id(self) -> str | None: ...

    @property
    def cancelled(self) -> bool: ...

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None: ...


class TrainingCancelled(Exception):
    """Training stopped on request after saving a checkpoint."""


@dataclass
class _Quiet:
    """Reporter used when training runs outside a job (tests, benchmarks)."""

    cancel_after_step: int | None = None
    last_step: int = 0
    job_id: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.cancel_after_step is not None and self.last_step >= self.cancel_after_step

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        self.last_step = step


def _callback(reporter: Reporter, progress_path: Path):
    from transformers import TrainerCallback

    writes = ddp.is_main()  # DDP hook: rank 0 alone writes progress.jsonl

    class StudioCallback(TrainerCallback):
        """Writes progress.jsonl, reports step/total/loss/ETA, saves and stops on cancel."""

        def __init__(self) -> None:
            self.t0 = time.monotonic()
            self.first_step: int | None = None
            self.cancelled = False
            self.last_loss: float | None = None

        def _write(self, row: dict[str, Any]) -> None:
            if not writes:
                return
            with progress_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

        def on_train_begin(self, args, state, control, **kw):
            self.first_step = state.global_step
            self.t0 = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs:
                self.last_loss = float(logs["loss"])
                self._write(
                    {
                        "type": "step",
                        "step": state.global_step,
                        "total": state.max_steps,
                        "epoch": state.epoch,
                        "loss": self.last_loss,
                        "learning_rate": logs.get("learning_rate"),
                        "elapsed_s": round(time.monotonic() - self.t0, 2),
                    }
                )

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            self._write(
                {"type": "eval", "step": state.global_step, "epoch": state.epoch, **(metrics or {})}
            )

        def on_step_end(self, args, state, control, **kw):
            step, total = state.global_step, state.max_steps
            done = step - (self.first_step or 0)
            elapsed = time.monotonic() - self.t0
            eta = elapsed / done * (total - step) if done > 0 else None
            msg = f"step {step}/{total}"
            if self.last_loss is not None:
                msg += f", loss {self.last_loss:.4f}"
            if eta is not None:
                msg += f", ETA {format_seconds(eta)}"
            if not reporter.cancelled:
                try:
                    reporter.progress(step, total, msg)
                except Exception as exc:  # JobCancelled: stop below, after saving
                    if exc.__class__.__name__ != "JobCancelled":
                        raise
            if reporter.cancelled and not self.cancelled:
                self.cancelled = True
                control.should_save = True  # a checkpoint to resume from
                control.should_training_stop = True
                control.should_evaluate = False
            return control

    return StudioCallback()


def format_seconds(seconds: float) -> str:
    """A duration for progress lines: "42s", "3m05s", "1h02m"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def make_evaluator(data: TrainingData, batch_size: int = 64):
    """InformationRetrievalEvaluator over the validation split, or None when it is empty."""
    if not data.val_queries:
        return None
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries=data.val_queries,
        corpus=data.val_corpus,
        relevant_docs=data.val_relevant,
        name="validation",
        batch_size=batch_size,
        write_csv=False,
        show_progress_bar=False,
    )


def build_trainer(
    model,
    config: TrainConfig,
    data: TrainingData,
    output_dir: Path,
    callbacks: list | None = None,
    evaluator=None,
):
    """The SentenceTransformerTrainer for `config` (public so benchmarks time the same thing).
    An empty learning rate or epochs is filled from the preset `data` calls for."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers

    config = config.resolved(data.counts()["records_by_kind"])
    epochs, learning_rate = float(config.epochs or 0.0), float(config.learning_rate or 0.0)
    build = get_objective(config.loss)(model, config, data)
    # The model change of the MoE option, for every objective; the losses hold the model
    # object, which the conversion changes in place.
    apply_moe(model, config, config.seed)
    ddp.share_negatives(build, config.batch_size)  # DDP hook: gather across devices
    by_steps = config.checkpoint_steps > 0
    strategy = "steps" if by_steps else "epoch"
    kwargs: dict[str, Any] = {}
    if evaluator is not None:
        kwargs.update(
            eval_strategy=strategy,
            load_best_model_at_end=True,
            metric_for_best_model=f"eval_validation_{BEST_METRIC}",
            greater_is_better=True,
        )
        if by_steps:
            kwargs["eval_steps"] = config.checkpoint_steps
    else:
        kwargs["eval_strategy"] = "no"
    device = resolve_device(config.device)  # under torchrun: this rank's own GPU
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of all steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN,
        save_strategy=strategy,
        save_steps=config.checkpoint_steps if by_steps else 500,
        save_total_limit=config.save_total_limit,
        # Every step's loss on CPU (a step takes seconds); on a GPU reading the loss forces a
        # device sync that costs ~10% of a short step, so log every 10th.
        logging_steps=1 if device == "cpu" else 10,
        logging_first_step=True,
        report_to="none",
        use_cpu=device == "cpu",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **ddp.trainer_args(device),  # DDP hook: backend, equal batches per rank
        **kwargs,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=build.train_dataset,
        loss=build.loss,
        evaluator=evaluator,
        callbacks=callbacks or [],
    )
    return trainer, build


def train_run(
    ws: Workspace,
    config: TrainConfig,
    run_id: str,
    reporter: Reporter | None = None,
    resume: bool = False,
    callbacks: list | None = None,
) -> dict[str, Any]:
    """Train one run end to end; returns {run_id, model_path, metrics}.

    Raises TrainingCancelled after saving a checkpoint when the reporter is cancelled.
    `callbacks` (TrainerCallbacks) run before the progress callback. Under torchrun every
    rank calls this and rank 0 alone writes (core/training/ddp.py).
    """
    import torch
    from transformers import set_seed

    from core.models import open_model
    from core.training.card import RunCardData, fill_card

    config.validate()
    reporter = reporter or _Quiet()
    main = ddp.is_main()  # DDP hook: only rank 0 writes files and rows
    run = runs.folder(ws, run_id)
    if resume and run.config.is_file():
        config = TrainConfig.from_json(run.config)
    if main:
        runs.record_run(ws, run_id, config.to_dict())
        runs.claim_run(ws, run_id, reporter.job_id)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_seed(config.seed)
    torch.use_deterministic_algorithms(False)
    device = resolve_device(config.device)  # under torchrun: this rank's own GPU

    reporter.progress(0, 1, "loading data and model", force=True)
    data = load_training_data(
        ws,
        config.train_split,
        config.validation_split,
        validation_max_chunks=config.validation_max_chunks,
        seed=config.seed,
        kind_weights=config.kind_weights,
    )
    if not data.train:
        raise ValueError(
            f"no curated pairs in split {config.train_split!r}: accept pairs on the Pairs page "
            "(or `embstudio pairs --accept-all`) first"
        )
    # Empty learning rate / epochs come from the preset the data calls for; the resolved
    # values are what config.json keeps (a resume reads them back unchanged).
    counts = data.counts()
    config = config.resolved(counts["records_by_kind"])
    if main:
        runs.record_run(ws, run_id, config.to_dict())
    start = f"{runs.RUN_PREFIX}{config.init_from}" if config.init_from else config.base_model
    model = open_model(runs.model_location(ws, start), device=device, model_card_data=RunCardData())
    model.max_seq_length = config.max_seq_length
    evaluator = make_evaluator(data) if config.validate_every_epoch else None
    metrics: dict[str, Any] = {
        "data": counts,
        "preset": config.preset_for(counts["records_by_kind"]),
    }
    if config.init_from:  # a final fit continuing its split run: what that run trained on
        split = runs.folder(ws, config.init_from).metrics
        split_data = json.loads(split.read_text()).get("data", {}) if split.is_file() else {}
        metrics["continued_from"] = {"run_id": config.init_from, "data": split_data}
    if evaluator is not None and not resume and main:
        reporter.progress(0, 1, "scoring the base model on the validation split", force=True)
        metrics["validation_base"] = _strip(evaluator(model))

    checkpoint = runs.last_checkpoint(run.root) if resume else None
    if not resume and main:
        run.progress.unlink(missing_ok=True)
    callback = _callback(reporter, run.progress)
    trainer, build = build_trainer(
        model, config, data, run.checkpoints, [*(callbacks or []), callback], evaluator
    )
    t0 = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_s = time.monotonic() - t0
    if callback.cancelled:
        raise TrainingCancelled(f"cancelled at step {trainer.state.global_step}; checkpoint saved")
    if not main:  # DDP hook: rank 0 saves, scores and describes the model
        return {"run_id": run_id, "model_path": str(run.model), "metrics": {}}

    metrics.update(
        steps=trainer.state.global_step,
        train_seconds=round(train_s, 1),
        seconds_per_step=round(train_s / max(1, result.global_step - _start_step(checkpoint)), 3),
        train_loss=result.training_loss,
        best_checkpoint=trainer.state.best_model_checkpoint,
        objective_info=build.info,
    )
    if evaluator is not None:
        metrics["validation"] = _strip(evaluator(trainer.model))
    fill_card(trainer.model, config, data, metrics, run_id)
    trainer.model.save(str(run.model))  # README.md: the card, by sentence-transformers
    model_dir = runs.finish_run(ws, run_id, metrics)
    reporter.progress(trainer.state.global_step, trainer.state.global_step, "done", force=True)
    return {"run_id": run_id, "model_path": str(model_dir), "metrics": metrics}


def _start_step(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    try:
        return int(checkpoint.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _strip(metrics: dict[str, Any]) -> dict[str, float]:
    """Evaluator metrics without the 'validation_' prefix, rounded."""
    return {k.removeprefix("validation_"): round(float(v), 4) for k, v in metrics.items()}
