"""The settings every run has, whatever its objective (`RunSettings`), and the presets that
fill its learning rate, epochs and hard negatives when those are left empty.

`TrainConfig` (core/training/config.py) adds each objective's settings and the MoE ones to
these; an objective's builder reads these fields and its own (core/training/objectives/), so
it types its config with this class rather than import TrainConfig, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.devices import Device
from core.models import DEFAULT_BASE_MODEL
from core.step_settings import StepSettings

PresetName = Literal["auto", "questions", "pseudo"]
FinalFitStart = Literal["split_run", "base"]


# Learning rate (peak, AdamW), epochs and mined negatives per preset, each chosen by a
# measurement (README "No-label default" and bench/RESULTS_training.md): real or LLM-written
# questions take big steps; pseudo-queries are an easy, noisy signal, and small steps with
# in-batch negatives only keep what the base model knows.
PRESETS: dict[str, dict[str, float]] = {
    "questions": {"learning_rate": 1e-4, "epochs": 3.0, "negatives_per_query": 1},
    "pseudo": {"learning_rate": 2e-5, "epochs": 1.0, "negatives_per_query": 0},
}
# The settings a preset fills when they are left empty (None).
PRESET_FIELDS = ("learning_rate", "epochs", "negatives_per_query")


def describe_preset(preset: str) -> str:
    """A preset's values in words, e.g. "lr 1e-4, 3 epochs, 1 mined negative"."""
    v = PRESETS[preset]
    return (
        f"lr {v['learning_rate']:g}, {v['epochs']:g} epochs, "
        f"{int(v['negatives_per_query'])} mined negative(s)"
    )


def _h(help: str) -> dict[str, str]:
    """Field metadata: the setting's meaning and unit (shown by the CLI and the Train page)."""
    return {"help": help}


@dataclass
class RunSettings(StepSettings):
    """The settings every run has, whatever its objective."""

    base_model: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata=_h(
            "Model to fine-tune: a sentence-transformers name, a local model folder, or "
            "'run:<RUN>' to continue from a finished run's model."
        ),
    )
    loss: str = field(
        default="mnrl",
        metadata=_h(
            "Training objective, by registry name (the Train page and `embstudio train --help` "
            "list them, one line each; core/training/objectives/)."
        ),
    )
    preset: PresetName = field(
        default="auto",
        metadata=_h(
            "Learning rate, epochs and hard negatives when those are left empty: 'questions' "
            f"({describe_preset('questions')}) for real or LLM-written questions, 'pseudo' "
            f"({describe_preset('pseudo')}) for pseudo-queries (ict, keywords, heading); 'auto' "
            "picks 'pseudo' when most training records are pseudo-queries."
        ),
    )
    epochs: float | None = field(
        default=None,
        metadata=_h("Passes over the training records (may be fractional); empty = preset."),
    )
    max_steps: int = field(
        default=-1, metadata=_h("Stop after this many optimizer steps; -1 = run all epochs.")
    )
    batch_size: int = field(
        default=32, metadata=_h("Training records (query, positive, negatives) per step.")
    )
    # Defaults (batch 32, scale 20; lr, epochs and negatives from PRESETS) come from a SciFact
    # sweep on its train queries (bench/RESULTS_training.md).
    learning_rate: float | None = field(
        default=None, metadata=_h("Peak learning rate of AdamW (per step); empty = preset.")
    )
    warmup_ratio: float = field(
        default=0.1, metadata=_h("Fraction of all steps spent warming the rate up from 0.")
    )
    weight_decay: float = field(
        default=0.01, metadata=_h("AdamW weight decay (fraction per step, decoupled).")
    )
    scale: float = field(
        default=20.0,
        metadata=_h("Similarity scale = 1 / temperature of the softmax (20 means tau = 0.05)."),
    )
    max_seq_length: int = field(
        default=256, metadata=_h("Tokens per text; longer texts are truncated.")
    )
    seed: int = field(
        default=42, metadata=_h("Random seed for data order, sampling and initialisation.")
    )
    negatives_per_query: int | None = field(
        default=None,
        metadata=_h(
            "Mined hard negatives per training record (0 = in-batch negatives only); empty = "
            "preset. Missing ones are filled with random chunks so every record has the same "
            "columns."
        ),
    )
    in_batch_negatives: bool = field(
        default=True,
        metadata=_h(
            "Also use the other records' passages in the batch as negatives (standard MNRL). "
            "Off: each query is scored against its own positive and hard negatives only."
        ),
    )
    validate_every_epoch: bool = field(
        default=True,
        metadata=_h("Score the validation split after each epoch and keep the best checkpoint."),
    )
    validation_max_chunks: int = field(
        default=20000,
        metadata=_h("Corpus cap for validation: positives plus this many other chunks at most."),
    )
    checkpoint_steps: int = field(
        default=0,
        metadata=_h(
            "Save a checkpoint every N steps (0 = at each epoch end; a cancel always saves)."
        ),
    )
    save_total_limit: int = field(
        default=2, metadata=_h("Checkpoints kept in the run folder (the best is kept too).")
    )
    device: Device = field(
        default="auto", metadata=_h("auto (GPU when present), cpu, cuda or mps.")
    )
    devices: int = field(
        default=1,
        metadata=_h(
            "Devices training together, one process each (DDP under torchrun; gloo on CPU, "
            "nccl on GPUs). A step takes devices x batch_size records; mnrl and cached-mnrl "
            "gather their in-batch negatives across devices (core/training/ddp.py)."
        ),
    )
    train_split: str = field(
        default="train",
        metadata=_h("Pairs split used for training ('all' = every split, as a final fit does)."),
    )
    final_fit: bool = field(
        default=True,
        metadata=_h(
            "After the run, train on the curated pairs it held out too and ship that model as "
            "run '<RUN>-all' (the held-out documents are documents you will search). Its "
            "evaluation figures are the split run's; skipped when no held-out pairs exist."
        ),
    )
    final_fit_from: FinalFitStart = field(
        default="split_run",
        metadata=_h(
            "Where the final fit starts: 'split_run' continues the split run's model on the "
            "held-out pairs only, with the same settings (about a third of the steps); 'base' "
            "trains the base model again on the pairs of every split. Measured on "
            "syllabusqa-dev's real questions the two are within 0.005 nDCG@10 (README, 'Measured results')."
        ),
    )
    init_from: str = field(
        default="",
        # Internal: set on a final fit, never a CLI option or a widget.
        metadata={
            **_h(
                "Run whose model the weights start from instead of base_model's ('' = "
                "base_model); set on a final fit that continues its split run. base_model "
                "stays the model the run is compared and merged with."
            ),
            "internal": True,
        },
    )
    final_of: str = field(
        default="",
        # Internal: set by the trainer, never a CLI option or a widget.
        metadata={
            **_h("Set on a final-fit run: the split run whose settings and figures it has."),
            "internal": True,
        },
    )
    kind_weights: dict[str, float] = field(
        default_factory=dict,
        metadata=_h(
            'Mix of question kinds, e.g. {"ict": 0.5, "simple": 2}: a pair of kind k is '
            "used w times on average (0 drops the kind; kinds left out weigh 1)."
        ),
    )
    validation_split: str = field(
        default="validation", metadata=_h("Pairs split used for validation.")
    )

    @property
    def mined_negatives(self) -> int:
        """`negatives_per_query` once the preset filled it (`TrainConfig.resolved`, before an
        objective builds its data); ValueError while it is still empty."""
        if self.negatives_per_query is None:
            raise ValueError("negatives_per_query is empty: resolve the config's preset first")
        return self.negatives_per_query
