"""The objective registry: a name maps to an `Objective` (its builder, description and typed
settings). Objective modules in this package register themselves when imported; the package's
`__init__` imports each of them, and `TrainConfig` (core/training/config.py) inherits every
registered settings class, so a new objective's settings are ordinary TrainConfig fields that
the CLI (`--set`), the Train page and config.json know without further edits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from core.step_settings import StepSettings
from core.step_settings import one_of as one_of

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from core.training.data import TrainingData


@dataclass
class ObjectiveBuild:
    """What an objective hands the trainer.

    train_dataset: one `datasets.Dataset`, or name -> Dataset for round-robin multi-dataset
        training (then `loss` must be a dict with the same names).
    loss: a loss module, or name -> module.
    info: free JSON-able facts for the model card (e.g. counts of soft-label pairs).
    """

    train_dataset: Dataset | dict[str, Dataset]
    loss: torch.nn.Module | dict[str, torch.nn.Module]
    info: dict[str, Any] = field(default_factory=dict)


# (model, config, data) -> ObjectiveBuild. The config is the run's TrainConfig; a builder types
# it as what it reads (core/training/run_settings.py's RunSettings and its own settings), as
# TrainConfig is built from this registry.
Builder = Callable[["SentenceTransformer", Any, "TrainingData"], ObjectiveBuild]


def setting(default: Any, help: str) -> Any:
    """A settings field with an immutable default and its meaning and unit (shown by the CLI,
    the Train page and the card); a list default needs `field(default_factory=..., metadata=
    {"help": ...})`."""
    return field(default=default, metadata={"help": help})


@dataclass
class ObjectiveSettings(StepSettings):
    """Base of an objective's settings: a dataclass whose fields (every one with a default, named
    after the objective, e.g. `dual_mnrl_weight`) become TrainConfig fields. It follows the
    settings contract (core/step_settings.py): a choice is typed with a `Literal` (checked by
    `StepSettings.problems`), and an objective's own `problems` adds its checks to
    `super().problems()` (TrainConfig.problems asks every settings class on its own)."""


def fraction_problems(settings: ObjectiveSettings, *names: str) -> list[str]:
    """One sentence per field of `names` whose value lies outside [0, 1]."""
    values = {n: getattr(settings, n) for n in names}
    return [f"{n} must be in [0, 1] (got {v})" for n, v in values.items() if not 0 <= v <= 1]


def choice_problems(settings: ObjectiveSettings, name: str, choices: tuple[str, ...]) -> list[str]:
    """A sentence when field `name` holds none of `choices`."""
    value = getattr(settings, name)
    return [] if value in choices else [f"{name} must be {one_of(choices)}, not {value!r}"]


@dataclass(frozen=True)
class Objective:
    """name: the `TrainConfig.loss` value; build: (model, config, data) -> ObjectiveBuild;
    description: one line for the Train page and `embstudio train --help`; settings: the
    objective's own settings class (None: it uses only the common settings)."""

    name: str
    build: Builder
    description: str
    settings: type[ObjectiveSettings] | None = None


_REGISTRY: dict[str, Objective] = {}
_settings_taken = False  # set once TrainConfig has been built from the settings classes


def register_objective(
    name: str,
    build: Builder,
    description: str = "",
    settings: type[ObjectiveSettings] | None = None,
) -> Objective:
    """Make `name` usable as `TrainConfig.loss` (re-registering a name replaces it).

    An objective with settings must be registered before TrainConfig is built, i.e. imported
    from this package's `__init__`; later, its fields could not be TrainConfig fields.
    """
    if settings is not None and _settings_taken and settings not in settings_classes():
        raise RuntimeError(
            f"objective {name!r} registers settings after TrainConfig was built: import its "
            "module from core/training/objectives/__init__.py"
        )
    if not description:
        doc_lines = (build.__doc__ or "").strip().splitlines()
        description = doc_lines[0] if doc_lines else ""
    objective = Objective(name, build, description, settings)
    _check_field_names(objective)
    _REGISTRY[name] = objective
    return objective


def _check_field_names(new: Objective) -> None:
    if new.settings is None:
        return
    mine = {f.name for f in fields(new.settings)}
    for other in _REGISTRY.values():
        if other.settings in (None, new.settings) or other.name == new.name:
            continue
        if clash := mine & {f.name for f in fields(other.settings)}:
            raise ValueError(f"objective {new.name!r} reuses settings of {other.name!r}: {clash}")


def get_objective(name: str) -> Builder:
    """The builder registered under `name` (KeyError listing the known names otherwise)."""
    return objective(name).build


def objective(name: str) -> Objective:
    """The objective registered under `name` (KeyError listing the known names otherwise)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown objective {name!r}; known: {', '.join(available_objectives())}")
    return _REGISTRY[name]


def available_objectives() -> list[str]:
    """Registered objective names, in registration order."""
    return list(_REGISTRY)


def describe_objectives() -> dict[str, str]:
    """Name -> one-line description, for the Train page and `embstudio train --help`."""
    return {name: o.description for name, o in _REGISTRY.items()}


def objective_fields(name: str) -> list[str]:
    """The TrainConfig fields that belong to objective `name` (its settings), in order."""
    settings = objective(name).settings
    return [f.name for f in fields(settings)] if settings is not None else []


def settings_classes() -> list[type[ObjectiveSettings]]:
    """Every registered settings class, once each (TrainConfig's bases). Registering new
    settings afterwards is refused (see `register_objective`)."""
    global _settings_taken
    _settings_taken = True
    out: list[type[ObjectiveSettings]] = []
    for o in _REGISTRY.values():
        if o.settings is not None and o.settings not in out:
            out.append(o.settings)
    return out
