"""The fusion weight: the rule's pick (core/evaluation/hybrid_weight.py, no test question)
against the best weight in hindsight on real questions.

For a workspace whose default pipeline has run (`bench_domain.py` leaves them in
bench/results/domain_ws/), each real-question set is searched once by the base model, the
shipped run and bm25; every weight of the grid is then a fusion of those hits (min-max and
RRF). Prints nDCG@10 per weight and the rule's pick, which it computes on the workspace's
validation split with the split run, never on the questions scored here.

    python bench/bench_hybrid.py --ws bench/results/domain_ws/syllabusqa-dev-default \\
        --set ../shared/data/syllabusqa-dev:syllabus --set ../shared/data/scifact:
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS

from core.evaluation.compare import SetRetrievers, base_spec, run_spec
from core.evaluation.datasets import beir_set
from core.evaluation.hybrid_weight import (
    WEIGHT_GRID,
    best_weight,
    choose_recipe,
    set_hits,
    weight_curve,
)
from core.runs import final_of, list_runs
from core.store import Workspace


def curves(ws: Workspace, folder: str, group: str | None, shipped: str) -> dict:
    evalset = beir_set(folder, "test", group or None)
    retrievers = SetRetrievers(evalset, ws)
    out = {"set": evalset.name, "queries": len(evalset.queries)}
    for label, spec in (("base", base_spec()), ("tuned", run_spec(ws, shipped))):
        dense, keyword = set_hits(evalset, retrievers, spec)
        for method in ("minmax", "rrf"):
            out[f"{label}+bm25 {method}"] = weight_curve(evalset, dense, keyword, method)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ws", required=True, help="a workspace the default pipeline ran in")
    ap.add_argument("--set", action="append", required=True, metavar="BEIR_DIR:GROUP")
    args = ap.parse_args()
    ws = Workspace.open(args.ws)
    finals = [r["id"] for r in list_runs(ws, status="succeeded") if final_of(ws, r["id"])]
    shipped = finals[0]
    split_run = final_of(ws, shipped)
    recipe = choose_recipe(ws, split_run)
    print(
        f"workspace {ws.root.name}: shipped {shipped}; rule ({recipe.rule}) picks "
        f"weight {recipe.weight}"
    )
    rows = []
    for item in args.set:
        folder, _, group = item.partition(":")
        found = curves(ws, folder, group, shipped)
        rows.append(found)
        print(
            f"\n{found['set']} ({found['queries']} questions), nDCG@10 per weight of the "
            "dense model (0 = BM25 alone, 1 = the model alone)"
        )
        print(
            "| fusion | " + " | ".join(f"{w:.1f}" for w in WEIGHT_GRID) + " | best | at 0.5 "
            "| rule's pick |"
        )
        print("|---|" + "---:|" * (len(WEIGHT_GRID) + 3))
        for name, curve in found.items():
            if not isinstance(curve, dict):
                continue
            best = best_weight(curve)
            print(
                f"| {name} | "
                + " | ".join(f"{curve[w]:.3f}" for w in WEIGHT_GRID)
                + f" | {best:.1f}: {curve[best]:.3f} | {curve[0.5]:.3f} | "
                f"{curve[recipe.weight]:.3f} |"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "hybrid.json"
    saved = json.loads(store.read_text()) if store.is_file() else {}
    saved[ws.root.name] = {"recipe": recipe.to_dict(), "sets": rows}
    store.write_text(json.dumps(saved, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
