"""Run an evaluation from plain params: the function behind `embstudio evaluate` and the
"evaluate" job.

params: dataset ("workspace" | "beir" | "general"), beir_dir (for beir/general),
split (default "test"), group (None | field), base_model (default: the workspace's Settings),
runs (list of run ids; the base model is evaluated first, as reference A) or models (an
explicit list, each "base" or a run id; the first two are compared as A and B),
references (default True: also keyword search `bm25`, the even mix `base+bm25` and each run
fused with bm25 at its recommended recipe, `RUN+bm25`), passages ("windows": a long passage
scored by its best window, or "truncate"), top_k (100), batch_size (32), seed (0), save (write
the report, default True).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.evaluation.compare import (
    ModelSpec,
    base_spec,
    best_reference,
    bm25_spec,
    compare,
    evaluate_models,
    hybrid_spec,
    run_spec,
)
from core.evaluation.datasets import EvalSet, beir_set, general_set, workspace_set
from core.evaluation.hybrid_weight import ensure_recipe
from core.evaluation.report import build_payload, save_report
from core.retrieval.fusion import DEFAULT_WEIGHT
from core.retrieval.windows import DEFAULT_PASSAGE_MODE, PASSAGE_MODES
from core.runs import final_of
from core.settings import defaults_for
from core.store import Workspace

Progress = Callable[[int, int, str], None]


def evaluation_params(
    runs: list[str],
    dataset: str = "workspace",
    beir_dir: str | None = None,
    split: str = "test",
    group: str | None = None,
    base_model: str | None = None,
    top_k: int = 100,
    batch_size: int = 32,
    save: bool = True,
    references: bool = True,
    passages: str = DEFAULT_PASSAGE_MODE,
) -> dict[str, Any]:
    """The params of an evaluation of the base model and `runs` (see the module docstring);
    with no other argument, those of `embstudio evaluate WS --run RUN`: the workspace's
    held-out test split, 100 candidates per query, the report saved."""
    return {
        "dataset": dataset,
        "beir_dir": beir_dir,
        "split": split,
        "group": group,
        "base_model": base_model,
        "runs": list(runs),
        "top_k": top_k,
        "batch_size": batch_size,
        "save": save,
        "references": references,
        "passages": passages,
    }


def load_evalset(ws: Workspace, params: dict[str, Any]) -> EvalSet:
    """The evaluation set that `params` names (see the module docstring)."""
    kind = params.get("dataset", "workspace")
    split = params.get("split") or "test"
    group = params.get("group") or None
    if kind == "workspace":
        return workspace_set(ws, split, group)
    if kind == "beir":
        if not params.get("beir_dir"):
            raise ValueError("dataset 'beir' needs beir_dir")
        return beir_set(params["beir_dir"], split, group)
    if kind == "general":
        evalset = general_set(params.get("beir_dir"), split, ws=ws)
        return evalset
    raise ValueError(f"unknown dataset {kind!r} (workspace, beir or general)")


def model_specs(ws: Workspace, params: dict[str, Any]) -> list[ModelSpec]:
    """The retrievers `params` names: `models` (each "base" or a run id), else base + `runs`;
    then, unless `references` is false, bm25, base+bm25 (the even mix) and RUN+bm25 for each
    run at its recipe's weight and method."""
    base = base_spec(params.get("base_model") or defaults_for(ws).base_model)
    names = params.get("models") or ["base", *(params.get("runs") or [])]
    specs = [base if name == "base" else run_spec(ws, name) for name in names]
    if params.get("references", True):
        specs += [bm25_spec(), hybrid_spec(base, DEFAULT_WEIGHT)]
        for spec in specs[: len(names)]:
            if spec.run_id:
                recipe = ensure_recipe(ws, spec.run_id)
                specs.append(hybrid_spec(spec, recipe.weight, recipe.method))
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("the same model is named twice")
    return specs


def refuse_final_fits(ws: Workspace, names: list[str]) -> None:
    """A final fit trained on the workspace's test documents: its figures there mean nothing."""
    for name in names:
        if name == "base":
            continue
        split_run = final_of(ws, name)
        if split_run:
            raise ValueError(
                f"run {name} is the final fit of {split_run} and was trained on the test "
                f"documents; evaluate {split_run} on the workspace split, or {name} on a BEIR set"
            )


def reference_comparison(evalset: EvalSet, outcomes: list, config: dict[str, Any]):
    """The first tuned run against the best reference (bm25 or base+bm25), or None."""
    run = next((o for o in outcomes if o.spec.run_id and o.spec.kind == "dense"), None)
    ref = best_reference(outcomes)
    if run is None or ref is None:
        return None
    return compare(evalset, ref, run, seed=config["seed"])


def run_evaluation(
    ws: Workspace, params: dict[str, Any], on_progress: Progress | None = None
) -> dict[str, Any]:
    """Evaluate the base model and the given runs; returns the report payload (with
    `report_paths` when saved)."""
    evalset = load_evalset(ws, params)
    specs = model_specs(ws, params)
    if params.get("dataset", "workspace") == "workspace":
        refuse_final_fits(ws, params.get("models") or params.get("runs") or [])
    config = {
        "params": params,
        "top_k": int(params.get("top_k", 100)),
        "batch_size": int(params.get("batch_size", 32)),
        "seed": int(params.get("seed", 0)),
    }
    passages = params.get("passages") or DEFAULT_PASSAGE_MODE
    if passages not in PASSAGE_MODES:
        raise ValueError(f"passages must be one of {', '.join(PASSAGE_MODES)}")
    config["passages"] = passages
    outcomes, comparison = evaluate_models(
        evalset,
        specs,
        top_k=config["top_k"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        on_progress=(lambda msg, d, t: on_progress(d, t, msg)) if on_progress else None,
        ws=ws,
        passage_mode=passages,
    )
    payload = build_payload(
        ws, evalset, outcomes, comparison, config, reference_comparison(evalset, outcomes, config)
    )
    if params.get("save", True):
        payload["report_paths"] = save_report(ws, payload)
    return payload
