"""Every training setting in one dataclass, with its meaning and unit (docs/ARCHITECTURE.md,
"Training").

`TrainConfig` = `RunSettings` (every run, core/training/run_settings.py) + `MoESettings`
(core/modeling/moe.py) + the settings class of every registered objective
(core/training/objectives/), so each objective owns its fields and their checks while
config.json, the CLI and the Train page see one flat set.
Every class follows the settings contract (core/step_settings.py): fields carry
`metadata={"help": ...}` so the CLI and the Train page show the same explanation, choices are
`Literal`s, and `problems()` runs each class's checks once (`validate()` raises them all).
Every field needs a default so old config.json files keep loading (`from_json` ignores keys it
does not know, with a warning; `from_dict`, a job's params, refuses them).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.generation.kind_registry import PSEUDO_KINDS as PSEUDO_KINDS  # the Train page counts
from core.generation.kind_registry import is_pseudo
from core.modeling.moe import MoESettings
from core.training.objectives import available_objectives, settings_classes

# The settings every run has and the presets (core/training/run_settings.py), re-exported.
from core.training.run_settings import PRESET_FIELDS as PRESET_FIELDS
from core.training.run_settings import PRESETS as PRESETS
from core.training.run_settings import PresetName as PresetName
from core.training.run_settings import RunSettings as RunSettings
from core.training.run_settings import describe_preset as describe_preset


# Bases: every objective's settings, then MoE, then the common ones (whose fields come first).
@dataclass
class TrainConfig(*settings_classes(), MoESettings, RunSettings):
    """Settings of one fine-tuning run; written to `runs/<RUN>/config.json`."""

    # ------------------------------------------------------------------ API
    def problems(self) -> list[str]:
        """What is wrong, one sentence each: the run-wide checks, then every part's own
        (RunSettings, MoESettings and every objective's settings, whatever the objective, so a
        bad value fails before any work starts), each with its Literal choices. `validate()`
        (the contract's) raises them all as one ValueError."""
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
        if self.devices != 1:  # objectives and devices DDP cannot serve are refused here
            from core.training.ddp import device_errors

            errors += device_errors(self)
        # Each part asked on its own (its fields' values): its checks and Literal choices once,
        # whether or not its `problems` calls super().
        for part in (RunSettings, MoESettings, *settings_classes()):
            values = {f.name: getattr(self, f.name) for f in dataclasses.fields(part)}
            errors += part(**values).problems()
        return errors

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

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            # Written whole then renamed: under DDP other ranks may read it at the same time.
            tmp = Path(f"{path}.tmp")
            tmp.write_text(text + "\n")
            os.replace(tmp, path)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> TrainConfig:
        """From a JSON string or a path to a config.json file; keys it does not know (a file
        an older release wrote) are dropped with a warning."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text), unknown="warn")


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
