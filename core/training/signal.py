"""How much training signal a workspace holds, said before training starts (issue 13).

A run of a few optimizer steps leaves the base model as it was: the first end-to-end default
on 11 syllabi trained 8 steps and gained nothing on real questions. The Train page and
`embstudio train` show this estimate and warn below `MIN_USEFUL_STEPS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.store import Workspace
from core.training.config import TrainConfig

MIN_USEFUL_STEPS = 20  # optimizer steps below which a run is unlikely to change the model


@dataclass(frozen=True)
class TrainingSignal:
    """pairs: the workspace's curated training pairs; steps: optimizer steps the run will take
    (epochs x batches, imported questions included); final_pairs/final_steps: the same for the
    final fit (0 pairs: none follows), which continues the split run on the pairs it held out
    when `final_continues`, else trains the base model on every split; imported: source ->
    {"pairs", "questions"} of the questions imported from related collections, trained in the
    split run and in a final fit from the base (core/related_questions.py)."""

    pairs: int
    steps: int
    final_pairs: int
    final_steps: int
    learning_rate: float
    epochs: float
    final_continues: bool = True
    imported: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def imported_pairs(self) -> int:
        return sum(v["pairs"] for v in self.imported.values())

    @property
    def shipped_steps(self) -> int:
        """Optimizer steps behind the model the run ships (the final fit's, when one follows)."""
        if not self.final_pairs:
            return self.steps
        return self.steps + self.final_steps if self.final_continues else self.final_steps

    @property
    def too_little(self) -> bool:
        return self.shipped_steps < MIN_USEFUL_STEPS

    def sentence(self) -> str:
        from core.related_questions import describe_sources

        mix = (
            f"{self.pairs} workspace pairs + {describe_sources(self.imported)}"
            if self.imported
            else f"{self.pairs} training pairs"
        )
        text = (
            f"{mix}: {self.steps} optimizer steps "
            f"({self.epochs:g} epochs at lr {self.learning_rate:g})"
        )
        if self.final_pairs and self.final_continues:
            text += (
                f", then {self.final_steps} steps of final fit on the {self.final_pairs} pairs "
                "it held out"
            )
        elif self.final_pairs:
            final = self.final_pairs + self.imported_pairs
            text += f", then {self.final_steps} steps of final fit on {final} pairs"
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
    """The estimate for `config` on the workspace's curated pairs plus the imported questions
    (records ~ pairs); the preset is the workspace's own pairs' (as in training)."""
    from core.related_questions import imported_by_source
    from core.training.data import ALL_SPLITS, curated_kind_counts, held_out_of

    kinds = curated_kind_counts(ws, config.train_split)
    resolved = config.resolved(kinds)
    pairs = sum(kinds.values())
    imported = imported_by_source(ws)
    extra = sum(v["pairs"] for v in imported.values())
    continues = config.final_fit_from == "split_run"
    final_split = held_out_of(config.train_split) if continues else ALL_SPLITS
    final = sum(curated_kind_counts(ws, final_split).values()) if config.final_fit else 0
    final = final if final > (0 if continues else pairs) else 0  # nothing held out: no fit
    epochs = float(resolved.epochs or 0.0)

    def steps(records: int) -> int:
        return steps_for(records, config.batch_size, epochs, config.max_steps, config.devices)

    return TrainingSignal(
        pairs=pairs,
        steps=steps(pairs + extra),
        final_pairs=final,
        final_steps=steps(final + (0 if continues else extra)) if final else 0,
        final_continues=continues,
        learning_rate=float(resolved.learning_rate or 0.0),
        epochs=epochs,
        imported=imported,
    )
