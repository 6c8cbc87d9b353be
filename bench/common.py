"""Helpers shared by the benchmarks (import with `sys.path` holding bench/, as the scripts do)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path


def device_sync() -> None:
    """Wait for queued GPU work (a no-op on CPU), so a clock reading covers it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_clock(only: tuple[int, ...] | None = None):
    """A TrainerCallback noting when training begins and when each optimizer step ends, after
    a device sync. `only`: note (and sync at) these global steps alone, so a GPU run is not
    slowed by a sync every step. The time between two step ends covers everything a trainer
    does per step: the batch, forward, backward, optimizer, logging and every callback."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: dict[int, float] = {}

        def _note(self, step: int) -> None:
            if only is None or step in only:
                device_sync()
                self.ends[step] = time.perf_counter()

        def on_train_begin(self, args, state, control, **kw):
            self._note(state.global_step)

        def on_step_end(self, args, state, control, **kw):
            self._note(state.global_step)

        def durations(self, warm: int = 0) -> list[float]:
            """Seconds of each step after the first `warm` steps."""
            steps = sorted(self.ends)
            return [self.ends[b] - self.ends[a] for a, b in itertools.pairwise(steps) if a >= warm]

        def seconds_per_step(self, warm: int, last: int) -> float:
            """Mean seconds per step from the end of step `warm` to the end of step `last`."""
            return (self.ends[last] - self.ends[warm]) / (last - warm)

    return StepClock()


def plain_trainer(model, config, data, output_dir: str | Path, callbacks: list | None = None):
    """A plain sentence-transformers `SentenceTransformerTrainer` with MNRL on the records of
    `data` (TrainingData), with the batch size, rate, warm-up, weight decay, seed, steps or
    epochs, scale and mined negatives of `config` (a resolved TrainConfig) and the
    no-duplicates sampler: what our trainer (core/training/trainer.py) is timed against. It
    saves nothing, logs every 500 steps and runs on the model's device."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from core.training.objectives import triplet_dataset

    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        max_steps=config.max_steps,
        num_train_epochs=float(config.epochs or 3.0),
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        report_to="none",
        use_cpu=model.device.type == "cpu",
        disable_tqdm=True,
    )
    return SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=triplet_dataset(data, config.negatives_per_query, config.seed),
        loss=MultipleNegativesRankingLoss(model, scale=config.scale),
        callbacks=callbacks or [],
    )
