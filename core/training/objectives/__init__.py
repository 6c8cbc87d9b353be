"""Training objectives (DESIGN.md section 5): one module per objective, each owning its typed
settings (an `ObjectiveSettings` dataclass whose fields become TrainConfig fields) and its
builder, and registering itself when imported.

Adding an objective: a new module here that calls `register_objective(name, build, description,
Settings)`, plus its import line below. The loss maths it needs may live in core/losses/.
"""

import core.training.objectives.cached_mnrl
import core.training.objectives.clp
import core.training.objectives.dual

# One line per objective (each module registers itself); the order is the Train page's.
import core.training.objectives.mnrl
import core.training.objectives.soft  # noqa: F401
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

__all__ = [
    "Builder",
    "Objective",
    "ObjectiveBuild",
    "ObjectiveSettings",
    "available_objectives",
    "describe_objectives",
    "get_objective",
    "objective",
    "objective_fields",
    "register_objective",
    "setting",
    "settings_classes",
    "triplet_columns",
    "triplet_dataset",
]
