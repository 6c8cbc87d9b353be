"""Training objectives (docs/ARCHITECTURE.md, "Training"): one module per objective, each
owning its typed settings (an `ObjectiveSettings` dataclass whose fields become TrainConfig
fields) and its builder, and registering itself when imported.

Adding an objective: a new module here that calls `register_objective(name, build, description,
Settings)`, plus its import line below. The loss maths it needs may live in core/losses/.
"""

from core.training.objectives.registry import (
    Builder,
    Objective,
    ObjectiveBuild,
    ObjectiveSettings,
    available_objectives,
    describe_objectives,
    get_objective,
    objective,
    objective_fields,
    register_objective,
    setting,
    settings_classes,
)
from core.training.objectives.triplets import triplet_columns, triplet_dataset

# One line per objective: importing it registers it. Registration order is the order the Train
# page and the CLI list them in (the first is the page's default), hence isort: off.
# isort: off
from core.training.objectives import mnrl
from core.training.objectives import cached_mnrl
from core.training.objectives import dual
from core.training.objectives import clp
from core.training.objectives import soft
from core.training.objectives import gist
# isort: on

__all__ = [
    "Builder",
    "Objective",
    "ObjectiveBuild",
    "ObjectiveSettings",
    "available_objectives",
    "cached_mnrl",
    "clp",
    "describe_objectives",
    "dual",
    "get_objective",
    "gist",
    "mnrl",
    "objective",
    "objective_fields",
    "register_objective",
    "setting",
    "settings_classes",
    "soft",
    "triplet_columns",
    "triplet_dataset",
]
