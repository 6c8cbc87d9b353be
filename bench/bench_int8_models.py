"""int8 export across differently tuned models (issue 16, item 1), through the CLI.

One small real workspace (three syllabi of syllabusqa-dev, the default generation, accepted,
mined) is built once; each variant below trains one model on it with `embstudio train --wait
--no-final-fit` plus the variant's options (objectives, MoE, learning rate and epochs), then:

fp32 ONNX is exported and every plan of `core.export.quantize.INT8_PLANS` is quantized and
scored on the export's parity texts (mean / min cosine against PyTorch); the first plan that
passes (the order `embstudio export --int8` tries them; `--cli-export` also runs that command)
is timed with ONNX fp32 against torch fp32 in the same interleaved rounds (as bench_export.py:
real SciFact passages, batch 32, 2 threads). Prints one table and writes bench/results/int8_models.json.

    python bench/bench_int8_models.py                            # train what is missing, all
    python bench/bench_int8_models.py --phase train              # only train (CPU-heavy)
    python bench/bench_int8_models.py --phase measure --rounds 5 # export, plans, speed

Speed figures are only meaningful on a quiet machine: the 1-minute load average is printed
next to each row (measured just before that row's speed rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_export import bench_backends, passages
from common import DATA, RESULTS, cli, offline_env

offline_env()

DOCS = DATA / "syllabusqa-dev" / "docs"
DEFAULT_DOCS = (
    "BDES-Syllabus-2021-v1rsb.txt",
    "ENG 204 syllabus_FA 2021.txt",
    "Syllabus_ISE4100_Au22_v3_redacted.txt",
)

# variant -> extra `embstudio train` options (the default row adds none: preset pseudo)
VARIANTS: dict[str, list[str]] = {
    "mnrl-default": [],  # preset pseudo: lr 2e-5, 1 epoch, in-batch negatives
    "mnrl-lr1e-4-3ep": ["--lr", "1e-4", "--epochs", "3"],
    "dual": ["--loss", "dual"],
    "clp": ["--loss", "clp"],
    "soft": ["--loss", "soft"],  # experts: all-mpnet-base-v2 + all-MiniLM-L6-v2 (defaults)
    "mnrl-moe": ["--moe"],
    "dual-moe-lr1e-4-3ep": ["--loss", "dual", "--moe", "--lr", "1e-4", "--epochs", "3"],
}


def prepare(ws: Path, docs: list[Path]) -> None:
    """The workspace every variant trains on: documents, default pairs accepted, negatives."""
    if (ws / "studio.db").is_file():
        return
    shutil.rmtree(ws, ignore_errors=True)
    upload = ws.parent / f"{ws.name}-docs"
    shutil.rmtree(upload, ignore_errors=True)
    upload.mkdir(parents=True)
    for doc in docs:
        shutil.copy(doc, upload / doc.name)
    cli(["init", str(ws)])
    cli(["ingest", str(ws), str(upload)])
    cli(["generate", str(ws)])
    cli(["pairs", str(ws), "--accept-all"])
    cli(["mine", str(ws)])


def trained_runs(ws: Path) -> dict[str, str]:
    path = ws / "bench_runs.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def train(ws: Path, names: list[str]) -> dict[str, str]:
    """Train each variant not trained yet; variant -> run id (kept in WS/bench_runs.json)."""
    runs = trained_runs(ws)
    for name in names:
        if name in runs:
            continue
        t0 = time.perf_counter()
        out, _ = cli(["train", str(ws), "--wait", "--no-final-fit", *VARIANTS[name]])
        if out.get("status") != "succeeded":
            raise SystemExit(f"training {name!r} ended {out.get('status')}: {out.get('error')}")
        runs[name] = out["run_id"]
        (ws / "bench_runs.json").write_text(json.dumps(runs, indent=2) + "\n")
        print(
            f"== trained {name}: {out['run_id']} in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return runs


def plan_parity(ws_path: Path, run_id: str, onnx_dir: Path, n_texts: int) -> dict[str, dict]:
    """Every int8 plan quantized from `onnx_dir` and scored on the export's parity texts."""
    from core.export.parity import check_parity, sample_texts
    from core.export.pipeline import run_model_dir
    from core.export.quantize import INT8_PLANS, quantize_int8
    from core.export.runtime import TorchEmbedder
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    texts = sample_texts(ws, n_texts)
    reference = TorchEmbedder(run_model_dir(ws, run_id)[0]).embed(texts)
    out = {}
    for i, (plan, keep) in enumerate(INT8_PLANS.items()):
        target = onnx_dir.parent / f"onnx-int8-plan{i}"
        quantize_int8(onnx_dir, target, keep_fp32=keep, plan=plan)
        r = check_parity(reference, target, texts, raise_on_fail=False)
        out[plan] = {"mean": r.mean, "min": r.min, "passed": r.passed, "dir": str(target)}
    return out


def speed(model_dir: Path, graphs: dict[str, Path], args: argparse.Namespace) -> dict:
    """texts/s and ratio vs torch fp32 of each ONNX graph, interleaved in the same rounds."""
    import torch

    from core.export.runtime import OnnxEmbedder, TorchEmbedder

    torch.set_num_threads(args.threads)
    embedders = {"torch": TorchEmbedder(model_dir)}
    embedders |= {k: OnnxEmbedder(d, threads=args.threads) for k, d in graphs.items()}
    texts = passages(args.texts)
    load = os.getloadavg()[0]
    result = bench_backends(embedders, texts, args.rounds, args.batch, n_latency=3)
    return {"load_avg_1m": load, "backends": result}


def measure(ws: Path, runs: dict[str, str], args: argparse.Namespace) -> list[dict]:
    """Per run: fp32 ONNX, every plan's parity; the first passing plan (the order
    `embstudio export --int8` tries them) is timed with fp32 against torch."""
    from core.export.onnx_export import export_onnx
    from core.export.pipeline import run_model_dir
    from core.store import Workspace

    rows = []
    for name, run_id in runs.items():
        model_dir = run_model_dir(Workspace.open(ws), run_id)[0]
        with tempfile.TemporaryDirectory() as tmp:
            onnx_dir = Path(tmp) / "onnx"
            export_onnx(model_dir, onnx_dir, run_id=run_id)
            plans = plan_parity(ws, run_id, onnx_dir, args.n_texts)
            passed = next((p for p, r in plans.items() if r["passed"]), None)
            graphs = {"onnx-fp32": onnx_dir}
            if passed:
                graphs["onnx-int8"] = Path(plans[passed]["dir"])
            row = {
                "variant": name,
                "run_id": run_id,
                "train_options": VARIANTS.get(name, []),
                "plan_passed": passed,
                "plans": {p: {k: v for k, v in r.items() if k != "dir"} for p, r in plans.items()},
                "speed": speed(model_dir, graphs, args),
            }
        if args.cli_export:
            exported, _ = cli(["export", str(ws), "--run", run_id, "--int8"])
            row["cli_export"] = {"path": exported["path"], "int8": exported.get("int8")}
        rows.append(row)
        print(line(row), flush=True)
    return rows


HEAD = (
    "| model | plan that passed | " + "{plans} | int8 ×torch | fp32 ×torch | torch texts/s | load |"
)


def header(plans: list[str]) -> str:
    cells = " | ".join(f"{p}: mean / min cos" for p in plans)
    head = HEAD.format(plans=cells)
    return head + "\n|---|---|" + "---:|" * (head.count("|") - 3)


def line(row: dict) -> str:
    b = row["speed"]["backends"]
    plans = " | ".join(f"{p['mean']:.4f} / {p['min']:.4f}" for p in row["plans"].values())
    int8 = f"{b['onnx-int8']['vs_torch']:.2f}" if "onnx-int8" in b else "—"
    return (
        f"| {row['variant']} | {row['plan_passed'] or 'none (fp32 only)'} | {plans} | {int8} | "
        f"{b['onnx-fp32']['vs_torch']:.2f} | {b['torch']['texts_per_s']:.1f} | "
        f"{row['speed']['load_avg_1m']:.2f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ws", type=Path, default=RESULTS / "int8_ws", help="workspace folder")
    ap.add_argument("--docs", default=",".join(DEFAULT_DOCS), help=f"files of {DOCS}, comma list")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma list of VARIANTS keys")
    ap.add_argument("--phase", choices=("all", "train", "measure"), default="all")
    ap.add_argument("--n-texts", type=int, default=64, help="parity texts (the export default)")
    ap.add_argument("--texts", type=int, default=128, help="SciFact passages per speed round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cli-export", action="store_true", help="also `embstudio export --int8`")
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_models.json")
    args = ap.parse_args()

    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    prepare(args.ws, [DOCS / d for d in args.docs.split(",")])
    runs = train(args.ws, names) if args.phase != "measure" else trained_runs(args.ws)
    if args.phase == "train":
        return 0
    runs = {n: runs[n] for n in names if n in runs}
    from core.export.quantize import INT8_PLANS

    print(header(list(INT8_PLANS)), flush=True)
    rows = measure(args.ws, runs, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
