"""The retrieval recipe a run recommends: how to search with its model (fused with keyword
search at a weight, or alone), stored with the run (`runs/<RUN>/retrieval.json`) and shipped
with its export (manifest and model card).

The weight is chosen without test questions when a run is first evaluated or exported
(`core/evaluation/hybrid_weight.py`, measured in bench/RESULTS_hybrid.md). A final fit
`RUN-all` and a merge inherit the recipe of the run they come from.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from core import runs
from core.retrieval.fusion import DEFAULT_WEIGHT, FUSION_METHODS, FusionMethod
from core.store import Workspace

WEIGHT_RULE = "fixed"  # the default recipe: the even mix, before (or without) a choice


@dataclass(frozen=True)
class Recipe:
    """method: minmax (convex combination of min-max scaled scores) or rrf; weight: the dense
    model's share in [0, 1] (Weaviate's alpha; 1 = the model alone, 0 = keyword search alone);
    rule: how the weight was chosen; measured: nDCG@10 / Recall@3 of each retriever where the
    recipe was measured (label → metrics), filled by an evaluation."""

    method: FusionMethod = "minmax"
    weight: float = DEFAULT_WEIGHT
    rule: str = WEIGHT_RULE
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    measured_on: str = ""

    def problems(self) -> list[str]:
        out = []
        if self.method not in FUSION_METHODS:
            out.append(f"method must be one of {', '.join(FUSION_METHODS)}")
        if not 0.0 <= self.weight <= 1.0:
            out.append("weight must be in [0, 1]")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        recipe = cls(**known)
        if recipe.problems():
            raise ValueError("retrieval recipe: " + "; ".join(recipe.problems()))
        return recipe


def write_recipe(ws: Workspace, run_id: str, recipe: Recipe) -> None:
    path = runs.folder(ws, run_id).retrieval
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(recipe.to_dict(), indent=2))
    os.replace(tmp, path)


def recipe_home(ws: Workspace, run_id: str) -> str:
    """The run whose folder holds (or will hold) the recipe of `run_id`: the run itself when it
    has one, else, following a merge to its run and a final fit to its split run, the first
    that has one, or the last of that chain."""
    seen: list[str] = []
    current = run_id
    while current and current not in seen:
        seen.append(current)
        if runs.folder(ws, current).retrieval.is_file():
            return current
        config = runs.read_config(ws, current)
        current = str(config.get("merge_of") or config.get("final_of") or "")
    return seen[-1]


def stored_recipe(ws: Workspace, run_id: str) -> Recipe | None:
    """The recipe stored for `run_id` (at its home), or None when none was chosen yet."""
    path = runs.folder(ws, recipe_home(ws, run_id)).retrieval
    return Recipe.from_dict(json.loads(path.read_text())) if path.is_file() else None


def run_recipe(ws: Workspace, run_id: str) -> Recipe:
    """The stored recipe of `run_id`, else the default (fixed even mix)."""
    return stored_recipe(ws, run_id) or Recipe()
