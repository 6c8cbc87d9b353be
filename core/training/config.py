"""Every training setting in one dataclass, with its meaning and unit (DESIGN.md section 5).

`TrainConfig` = `RunSettings` (every run, below) + `MoESettings` (core/modeling/moe.py) + the
settings class of every registered objective (core/training/objectives/), so each objective owns
its fields and their checks while config.json, the CLI and the Train page see one flat set.
Fields carry `metadata={"help": ...}` so the CLI and the Train page show the same explanation;
every field needs a default so old config.json files keep loading (`from_json` ignores keys it
does not know, with a warning).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from core.devices import DEVICES, Device
from core.generation.kind_registry import PSEUDO_KINDS as PSEUDO_KINDS  # the Train page counts
from core.generation.kind_registry import is_pseudo
from core.modeling.moe import MoESettings
from core.models import DEFAULT_BASE_MODEL
from core.training.objectives import available_objectives, settings_classes

PresetName = Literal["auto", "questions", "pseudo"]


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
class RunSettings:
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
            "gather their in-batch negatives across devices (core/training/distributed.py)."
        ),
    )
    train_split: str = field(
        default="train",
        metadata=_h("Pairs split used for training ('all' = every split, as a final fit does)."),
    )
    final_fit: bool = field(
        default=True,
        metadata=_h(
            "After the run, train again with the same settings on the curated pairs of every "
            "split and ship that model as run '<RUN>-all' (the held-out documents are "
            "documents you will search). Its evaluation figures are the split run's; skipped "
            "when no held-out pairs exist."
        ),
    )
    final_of: str = field(
        default="",
        metadata=_h("Set on a final-fit run: the split run whose settings and figures it has."),
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


# Bases: every objective's settings, then MoE, then the common ones (whose fields come first).
@dataclass
class TrainConfig(*settings_classes(), MoESettings, RunSettings):
    """Settings of one fine-tuning run; written to `runs/<RUN>/config.json`."""

    # ------------------------------------------------------------------ API
    def validate(self) -> TrainConfig:
        """Raise ValueError naming the bad settings; returns self when all are fine."""
        errors: list[str] = []
        if not str(self.base_model).strip():
            errors.append("base_model is empty")
        elif not _known_model(self.base_model):
            errors.append(
                f"base_model {self.base_model!r} is neither a known model, a model folder, "
                "nor run:<RUN>"
            )
        names = available_objectives()
        if self.loss not in names:
            errors.append(f"loss {self.loss!r} is unknown; choose one of {', '.join(names)}")
        if self.preset not in ("auto", *PRESETS):
            errors.append(f"preset {self.preset!r} is not auto, {' or '.join(PRESETS)}")
        if self.epochs is not None and not self.epochs > 0 and self.max_steps <= 0:
            errors.append("epochs must be > 0 (or max_steps > 0)")
        if self.epochs is not None and self.epochs < 0:
            errors.append("epochs must not be negative")
        if self.batch_size < 1:
            errors.append(f"batch_size must be at least 1 (got {self.batch_size})")
        if self.learning_rate is not None and not self.learning_rate > 0:
            errors.append(f"learning_rate must be positive (got {self.learning_rate})")
        if not 0 <= self.warmup_ratio < 1:
            errors.append("warmup_ratio must be in [0, 1)")
        if self.weight_decay < 0:
            errors.append("weight_decay must not be negative")
        if not self.scale > 0:
            errors.append("scale (1/temperature) must be positive")
        if self.max_seq_length < 8:
            errors.append("max_seq_length must be at least 8 tokens")
        if self.negatives_per_query is not None and self.negatives_per_query < 0:
            errors.append("negatives_per_query must not be negative")
        if not self.in_batch_negatives and not self.negatives_per_query:
            errors.append("with in_batch_negatives off, negatives_per_query must be at least 1")
        if self.checkpoint_steps < 0 or self.save_total_limit < 1:
            errors.append("checkpoint_steps must be >= 0 and save_total_limit >= 1")
        if not isinstance(self.kind_weights, dict) or any(
            not isinstance(w, int | float) or w < 0 for w in self.kind_weights.values()
        ):
            errors.append(f"kind_weights must map kinds to numbers >= 0 (got {self.kind_weights})")
        if self.device not in DEVICES:
            errors.append(f"device {self.device!r} is not auto, cpu, cuda or mps")
        if self.devices != 1:  # objectives and devices DDP cannot serve are refused here
            from core.training.distributed import device_errors

            errors += device_errors(self)
        # Each settings class checks its own fields (all of them, whatever the objective, so
        # a bad value fails before any work starts).
        for settings in (*settings_classes(), MoESettings):
            errors += settings.problems(self)
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def preset_for(self, records_by_kind: dict[str, int]) -> str:
        """The preset in force for training records of these kinds (counts per kind); which
        kinds are pseudo-queries the kinds registry says (core.generation.kind_registry)."""
        if self.preset != "auto":
            return self.preset
        pseudo = sum(n for k, n in records_by_kind.items() if is_pseudo(k))
        return "pseudo" if pseudo * 2 > sum(records_by_kind.values()) else "questions"

    def resolved(self, records_by_kind: dict[str, int]) -> TrainConfig:
        """A copy whose empty learning rate, epochs and negatives are filled from the preset
        in force
        (the preset itself is kept, so config.json says where the values came from)."""
        values = PRESETS[self.preset_for(records_by_kind)]
        empty = {name: values[name] for name in PRESET_FIELDS if getattr(self, name) is None}
        if "negatives_per_query" in empty:
            empty["negatives_per_query"] = int(empty["negatives_per_query"])
        return dataclasses.replace(self, **empty)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            # Written whole then renamed: under DDP other ranks may read it at the same time.
            tmp = Path(f"{path}.tmp")
            tmp.write_text(text + "\n")
            os.replace(tmp, path)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            warnings.warn(f"ignoring unknown training settings: {', '.join(unknown)}", stacklevel=2)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> TrainConfig:
        """From a JSON string or a path to a config.json file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> one-line explanation (for the Train page and the CLI)."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def _known_model(name: str) -> bool:
    from core.models import resolve_model

    name = str(name).strip()
    if name.startswith("run:"):
        return bool(name[4:].strip())
    resolved = resolve_model(name)
    if Path(resolved).is_dir():
        return (Path(resolved) / "modules.json").is_file() or (
            Path(resolved) / "config.json"
        ).is_file()
    # A hub id "org/name" is accepted only when it is cached locally or we are online.
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(name, "modules.json")
            return isinstance(hit, str)
        except Exception:
            return False
    return "/" in name or name.count("-") > 0
