"""The no-label default, end to end through the CLI (issue 10's "done when").

On a fixed random sample of SciFact abstracts (`--docs`, seed 0, the same sample as
bench_no_label.py), written as markdown files ("# title" + abstract) into a fresh workspace,
run exactly what a user runs, every command with its default settings:

    embstudio init WS
    embstudio ingest WS DOCS/
    embstudio generate WS            # no --kinds: the default kinds
    embstudio pairs WS --accept-all
    embstudio mine WS
    embstudio train WS --wait
    embstudio evaluate WS --run RUN --beir SCIFACT --split test

and print base vs tuned on the 300 real SciFact test queries against the full corpus (5,183
abstracts), with the wall time of every step. Results go to bench/results/default_pipeline.json.

    python bench/bench_default_pipeline.py [--docs 300] [--workspace DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scifact_ws import REPO, RESULTS, SCIFACT
from bench_no_label import sample_docs

EMBSTUDIO = [str(Path(sys.executable).parent / "embstudio")]  # the console script


def step(name: str, args: list[str], timings: dict[str, float]) -> dict:
    """Run one CLI command with --json; its progress lines pass through to stderr."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*EMBSTUDIO, *args, "--json"], cwd=REPO, stdout=subprocess.PIPE, text=True, check=False
    )
    timings[name] = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        raise SystemExit(f"`embstudio {' '.join(args)}` failed with exit code {proc.returncode}")
    print(f"== {name}: {timings[name]} s", flush=True)
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=300, help="abstracts in the sample (seed 0)")
    ap.add_argument("--workspace", default=str(RESULTS / "default_pipeline_ws"))
    args = ap.parse_args()
    ws = Path(args.workspace)
    if ws.exists():
        shutil.rmtree(ws)
    docs_dir = ws.parent / (ws.name + "_docs")
    shutil.rmtree(docs_dir, ignore_errors=True)
    docs_dir.mkdir(parents=True)
    for d in sample_docs(args.docs):
        text = f"# {d.get('title') or d['id']}\n\n{d['text']}\n"
        (docs_dir / f"scifact-{d['id']}.md").write_text(text)

    timings: dict[str, float] = {}
    step("init", ["init", str(ws)], timings)
    ingest = step("ingest", ["ingest", str(ws), str(docs_dir)], timings)
    generated = step("generate", ["generate", str(ws)], timings)
    step("accept", ["pairs", str(ws), "--accept-all"], timings)
    mined = step("mine", ["mine", str(ws)], timings)
    trained = step("train", ["train", str(ws), "--wait"], timings)
    run_id = trained["run_id"]
    evaluated = step(
        "evaluate",
        ["evaluate", str(ws), "--run", run_id, "--beir", str(SCIFACT), "--split", "test"],
        timings,
    )
    base, tuned = evaluated["models"][0], evaluated["models"][-1]
    report = {
        "docs": args.docs,
        "ingest": ingest,
        "generate": {k: generated.get(k) for k in ("kept", "dropped", "by_kind")},
        "mining": mined.get("stats"),
        "train": {k: trained.get(k) for k in ("run_id", "model_path", "metrics")},
        "train_config": json.loads((ws / "runs" / run_id / "config.json").read_text()),
        "base": base["metrics"],
        "tuned": tuned["metrics"],
        "comparison": evaluated.get("comparison"),
        "timings_s": timings,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "default_pipeline.json").write_text(json.dumps(report, indent=2, default=str))
    print()
    print("| model | nDCG@10 | Recall@10 | MAP@10 | MRR@10 |")
    print("|---|---:|---:|---:|---:|")
    for label, m in (("base", base["metrics"]), ("tuned (default pipeline)", tuned["metrics"])):
        print(
            f"| {label} | {m['NDCG@10']:.4f} | {m['Recall@10']:.4f} | {m['MAP@10']:.4f} | "
            f"{m['MRR@10']:.4f} |"
        )
    print(f"Δ nDCG@10 {tuned['metrics']['NDCG@10'] - base['metrics']['NDCG@10']:+.4f}")
    print("comparison:", json.dumps(evaluated.get("comparison")))
    print("timings (s):", json.dumps(timings))


if __name__ == "__main__":
    main()
