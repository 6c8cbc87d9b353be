"""How much training signal a workspace holds, said before training starts (issue 13).

A run of a few optimizer steps leaves the base model as it was: the first end-to-end default
on 11 syllabi trained 8 steps and gained nothing on real questions. The Train page and
`embstudio train` show this estimate and warn below `MIN_USEFUL_STEPS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.store import Workspace
from core.training.config import TrainConfig

MIN_USEFUL_STEPS = 20  # optimizer steps below which a run is unlikely to change the model


@dataclass(frozen=True)
class TrainingSignal:
    """pairs: curated training pairs; steps: optimizer steps the run will take (epochs x
    batches); final_pairs/final_steps: the same for the final fit on every split."""

    pairs: int
    steps: int
    final_pairs: int
    final_steps: int
    learning_rate: float
    epochs: float

    @property
    def too_little(self) -> bool:
        return max(self.steps, self.final_steps) < MIN_USEFUL_STEPS

    def sentence(self) -> str:
        text = (
            f"{self.pairs} training pairs: {self.steps} optimizer steps "
            f"({self.epochs:g} epochs at lr {self.learning_rate:g})"
        )
        if self.final_pairs > self.pairs:
            text += f", then {self.final_steps} steps of final fit on {self.final_pairs} pairs"
        if self.too_little:
            text += (
                f". Fewer than {MIN_USEFUL_STEPS} steps rarely change the model: write more "
                "pairs per chunk, add documents, or train more epochs."
            )
        return text


def steps_for(
    records: int, batch_size: int, epochs: float, max_steps: int = -1, devices: int = 1
) -> int:
    """Optimizer steps of a run over `records` (the trainer's count: batches per epoch x
    epochs, rounded up; max_steps > 0 wins). On several devices each step takes one full
    batch per device and the last incomplete round is dropped (core/training/ddp.py)."""
    if max_steps > 0:
        return max_steps
    if devices > 1:
        return math.ceil(records // max(1, batch_size) // devices * epochs)
    return math.ceil(math.ceil(records / max(1, batch_size)) * epochs)


def training_signal(ws: Workspace, config: TrainConfig) -> TrainingSignal:
    """The estimate for `config` on the workspace's curated pairs (records ~ pairs)."""
    from core.training.data import ALL_SPLITS, curated_kind_counts

    kinds = curated_kind_counts(ws, config.train_split)
    resolved = config.resolved(kinds)
    pairs = sum(kinds.values())
    final = sum(curated_kind_counts(ws, ALL_SPLITS).values()) if config.final_fit else pairs
    epochs = float(resolved.epochs or 0.0)
    return TrainingSignal(
        pairs=pairs,
        steps=steps_for(pairs, config.batch_size, epochs, config.max_steps, config.devices),
        final_pairs=final,
        final_steps=steps_for(final, config.batch_size, epochs, config.max_steps, config.devices),
        learning_rate=float(resolved.learning_rate or 0.0),
        epochs=epochs,
    )
