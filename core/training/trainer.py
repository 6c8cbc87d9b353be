"""Fine-tuning with sentence-transformers' trainer (DESIGN.md section 5).

`train_run` reads the workspace's curated pairs and latest negatives, builds the objective
named in the config from the registry, and trains with `BatchSamplers.NO_DUPLICATES` (a query
never appears twice in a batch, so no in-batch negative is a copy of its positive), seeds
fixed, the validation split scored every epoch and the best checkpoint kept. The run folder
`runs/<RUN>/` receives config.json, progress.jsonl (one JSON line per logged step and per
evaluation), checkpoints/, model/ (with a README.md model card) and metrics.json; the `runs`
row mirrors the status. A cancel saves a checkpoint and stops; `resume=True` continues from
the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.store import Workspace, now_iso
from core.training import distributed
from core.training.config import TrainConfig
from core.training.data import TrainingData, load_training_data
from core.training.objectives import get_objective

log = logging.getLogger("embstudio.training")
BEST_METRIC = "cosine_ndcg@10"


class Reporter(Protocol):
    """What the trainer needs from a JobContext (progress, cancel flag, logger)."""

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

    @property
    def cancelled(self) -> bool:
        return self.cancel_after_step is not None and self.last_step >= self.cancel_after_step

    def progress(self, step: int, total: int, message: str = "", force: bool = False) -> None:
        self.last_step = step


def resolve_base(ws: Workspace, name: str) -> str:
    """A loadable model location: 'run:<RUN>' -> that run's model folder, else resolve_model."""
    from core.models import resolve_model

    if name.startswith("run:"):
        path = ws.run_dir(name[4:].strip()) / "model"
        if not (path / "modules.json").is_file():
            raise ValueError(f"run {name[4:]} has no finished model at {path}")
        return str(path)
    return resolve_model(name)


def pick_device(config: TrainConfig) -> str:
    from core.models import best_device

    device = best_device() if config.device == "auto" else config.device
    return distributed.rank_device(device)  # DDP hook: each rank on its own GPU


def _set_run_row(ws: Workspace, run_id: str, cfg: TrainConfig, **fields: Any) -> None:
    with ws.transaction() as conn:
        exists = conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
        if not exists:
            conn.execute(
                "INSERT INTO runs (id, created_at, base_model, loss, config, status)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, now_iso(), cfg.base_model, cfg.loss, cfg.to_json(), "queued"),
            )
        for key, value in fields.items():
            if key not in ("status", "model_path", "metrics", "config"):
                raise KeyError(key)
            if not isinstance(value, str) and value is not None:
                value = json.dumps(value)
            conn.execute(f"UPDATE runs SET {key} = ? WHERE id = ?", (value, run_id))


def set_run_status(ws: Workspace, run_id: str, status: str) -> None:
    """Mirror a job's status onto its run row (no-op when the run has no row yet)."""
    with ws.connect() as conn:
        conn.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))


def read_progress(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of progress.jsonl (train steps: type 'step'; evaluations: type 'eval')."""
    path = Path(run_dir) / "progress.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written right now
    return out


def _callback(reporter: Reporter, progress_path: Path):
    from transformers import TrainerCallback

    writes = distributed.is_main()  # DDP hook: rank 0 alone writes progress.jsonl

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
                msg += f", ETA {_fmt_s(eta)}"
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


def _fmt_s(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None.

    The trainer writes trainer_state.json last, so a checkpoint without a readable one was cut
    short (a worker killed while saving) and is skipped: resuming from it would fail.
    """
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[1]
        if path.is_dir() and step.isdigit():
            found.append((int(step), path))
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return path
    return None


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
    for hook in build.prepare_model:
        hook(model, config)
    distributed.share_negatives(build, config.batch_size)  # DDP hook: gather across devices
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
    device = pick_device(config)
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
        **distributed.trainer_args(device),  # DDP hook: backend, equal batches per rank
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
    rank calls this and rank 0 alone writes (core/training/distributed.py).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import set_seed

    config.validate()
    reporter = reporter or _Quiet()
    main = distributed.is_main()  # DDP hook: only rank 0 writes files and rows
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "config.json").is_file():
        config = TrainConfig.from_json(run_dir / "config.json")
    if main:
        config.to_json(run_dir / "config.json")
        _set_run_row(ws, run_id, config, status="running", config=config.to_json())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_seed(config.seed)
    torch.use_deterministic_algorithms(False)
    device = pick_device(config)

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
        config.to_json(run_dir / "config.json")
        _set_run_row(ws, run_id, config, config=config.to_json())
    model = SentenceTransformer(resolve_base(ws, config.base_model), device=device)
    model.max_seq_length = config.max_seq_length
    evaluator = make_evaluator(data) if config.validate_every_epoch else None
    metrics: dict[str, Any] = {
        "data": counts,
        "preset": config.preset_for(counts["records_by_kind"]),
    }
    if evaluator is not None and not resume and main:
        reporter.progress(0, 1, "scoring the base model on the validation split", force=True)
        metrics["validation_base"] = _strip(evaluator(model))

    checkpoint = last_checkpoint(run_dir) if resume else None
    if not resume and main:
        (run_dir / "progress.jsonl").unlink(missing_ok=True)
    callback = _callback(reporter, run_dir / "progress.jsonl")
    trainer, build = build_trainer(
        model, config, data, run_dir / "checkpoints", [*(callbacks or []), callback], evaluator
    )
    t0 = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_s = time.monotonic() - t0
    model_dir = run_dir / "model"
    if callback.cancelled:
        if main:
            _set_run_row(ws, run_id, config, status="cancelled")
        raise TrainingCancelled(f"cancelled at step {trainer.state.global_step}; checkpoint saved")
    if not main:  # DDP hook: rank 0 saves, scores and describes the model
        return {"run_id": run_id, "model_path": str(model_dir), "metrics": {}}

    trainer.model.save(str(model_dir), create_model_card=False)
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
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    (model_dir / "README.md").write_text(model_card(config, data, metrics, run_id))
    rel = os.path.relpath(model_dir, ws.root)
    _set_run_row(ws, run_id, config, status="succeeded", model_path=rel, metrics=metrics)
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


def model_card(
    config: TrainConfig, data: TrainingData, metrics: dict[str, Any], run_id: str
) -> str:
    """A README.md for the model folder: base model, data, objective and settings, metrics."""
    counts = data.counts()
    lines = [
        f"# Fine-tuned embedding model (run {run_id})",
        "",
        "Made with Domain Embedding Studio: sentence-transformers fine-tuning on curated",
        "(query, passage) pairs of the workspace, with mined hard negatives.",
        "",
        f"- Base model: `{config.base_model}`",
        f"- Objective: `{config.loss}`",
        f"- Training records: {counts['train_records']} "
        f"({counts['train_queries']} queries; {counts['records_with_negatives']} with mined "
        f"negatives; mining {counts['mining_id']})",
        f"- Validation: {counts['validation_queries']} queries over "
        f"{counts['validation_corpus']} chunks",
        f"- Steps: {metrics.get('steps')}, {metrics.get('train_seconds')} s",
        "",
        "## Settings",
        "",
        "| setting | value | meaning |",
        "|---|---|---|",
    ]
    helps = TrainConfig.help()
    for key, value in config.to_dict().items():
        lines.append(f"| {key} | `{value}` | {helps.get(key, '')} |")
    for title, key in (
        ("Validation, base model", "validation_base"),
        ("Validation, tuned", "validation"),
    ):
        if metrics.get(key):
            lines += ["", f"## {title}", "", "| metric | value |", "|---|---|"]
            for m, v in sorted(metrics[key].items()):
                if m.startswith("cosine_"):
                    lines.append(f"| {m.removeprefix('cosine_')} | {v:.4f} |")
    if config.final_of:
        lines += [
            "",
            f"This is the final fit of run `{config.final_of}`: the same settings trained on the "
            "pairs of every document. Its evaluation figures are those of that run.",
        ]
    lines += ["", "## Use", "", "```python", *load_snippet(config), "```", ""]
    if config.moe:
        lines += [
            "The mixture-of-experts layers are custom model code shipped in this folder "
            "(`modeling_bert_moe.py`), hence `trust_remote_code=True`.",
            "",
        ]
    return "\n".join(lines)


def load_snippet(config: TrainConfig, path: str = "PATH/TO/THIS/FOLDER") -> list[str]:
    """The Python lines that load a run's model folder, exactly as its card shows them."""
    extra = ", trust_remote_code=True" if config.moe else ""
    return [
        "from sentence_transformers import SentenceTransformer",
        f"model = SentenceTransformer('{path}'{extra})",
    ]
