"""On a GPU: upload -> tuned model on syllabusqa-dev with the defaults, timed (issue 17 item 5).

Three figures, written to bench/results/gpu_end_to_end.json and printed as a table:

1. Wall time of what a user runs, every command with its defaults (goal: 3 minutes or less):
       embstudio init WS; embstudio ingest WS DOCS/; embstudio generate WS
       embstudio pairs WS --accept-all; embstudio mine WS; embstudio train WS --wait
   (`train --wait` includes the final fit on every document, the model a user ships.)
2. Seconds per training step, our trainer (`build_trainer` with the progress callback) vs a
   plain `SentenceTransformerTrainer` with MNRL on the same records, batch, sampler and rate,
   timed between two device syncs after `--warm` steps (goal: ours <= 1.05x plain).
3. GPU memory: the peak torch allocated in each trainer of (2), and the peak `nvidia-smi`
   reported on the device during (1).

    python bench/gpu_end_to_end.py                       # on the GPU machine
    python bench/gpu_end_to_end.py --smoke               # any machine: 1 document, 2 steps
    python bench/gpu_end_to_end.py --devices 2           # train --devices 2 (several GPUs)

`--docs` (or EMBSTUDIO_DATA=<folder holding syllabusqa-dev/>) says where the syllabi are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from bench_domain import STAGES
from common import DATA, RESULTS, GpuMemorySampler, cli, step_times

GOAL_S = 180.0  # issue 17: upload -> tuned model in 3 minutes on one GPU
GOAL_RATIO = 1.05  # issue 17: our training step within 5% of a plain trainer's


def pipeline(ws: Path, docs: Path, smoke: bool, devices: int) -> tuple[dict, dict[str, float]]:
    """Run the six default commands; returns (train output, seconds per stage)."""
    shutil.rmtree(ws, ignore_errors=True)
    ws.parent.mkdir(parents=True, exist_ok=True)
    train = ["train", str(ws), "--wait"]
    if devices > 1:
        train += ["--devices", str(devices)]
    if smoke:
        train += ["--max-steps", "2"]
    commands = {
        "init": ["init", str(ws)],
        "ingest": ["ingest", str(ws), str(docs)],
        "generate": ["generate", str(ws)] + (["--limit-chunks", "12"] if smoke else []),
        "accept": ["pairs", str(ws), "--accept-all"],
        "mine": ["mine", str(ws)],
        "train": train,
    }
    seconds: dict[str, float] = {}
    out: dict[str, dict] = {}
    for stage in STAGES:
        out[stage], seconds[stage] = cli(commands[stage])
        print(f"== {stage}: {seconds[stage]} s", file=sys.stderr, flush=True)
    return out["train"], seconds


def default_step_times(ws_root: Path, warm: int, timed: int, max_seq_length: int | None) -> dict:
    """Seconds per step and peak allocated memory: ours vs a plain SentenceTransformerTrainer
    on the workspace's curated pairs with the default settings (`max_seq_length` overrides
    the default's, for the smoke run)."""
    from core.store import Workspace
    from core.training.config import TrainConfig

    # Checkpoints every 10^9 steps: never inside the timed window (the plain trainer saves none).
    cfg = TrainConfig(max_steps=warm + timed, checkpoint_steps=10**9)
    if max_seq_length:
        cfg.max_seq_length = max_seq_length
    return step_times(Workspace.open(ws_root), cfg, warm)


def smoke_docs(docs: Path, target: Path) -> Path:
    """A folder holding only the smallest syllabus (a fast run on any machine)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    smallest = min(docs.iterdir(), key=lambda p: p.stat().st_size)
    shutil.copy(smallest, target / smallest.name)
    return target


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def main() -> None:
    data_root = Path(os.environ.get("EMBSTUDIO_DATA") or DATA)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", default=str(data_root / "syllabusqa-dev" / "docs"))
    ap.add_argument(
        "--smoke", action="store_true", help="1 document, 2 training steps, 1 timed step"
    )
    ap.add_argument("--devices", type=int, default=1, help="train --devices N (several GPUs)")
    ap.add_argument("--warm", type=int, default=5, help="steps run before the step clock starts")
    ap.add_argument("--timed", type=int, default=40, help="steps timed per trainer")
    ap.add_argument("--workspace", default=str(RESULTS / "gpu_end_to_end_ws"))
    args = ap.parse_args()
    docs = Path(args.docs)
    if not docs.is_dir():
        raise SystemExit(f"no documents at {docs}: pass --docs or set EMBSTUDIO_DATA")
    ws = Path(args.workspace)
    warm, timed = (1, 1) if args.smoke else (args.warm, args.timed)
    if args.smoke:
        docs = smoke_docs(docs, ws.parent / f"{ws.name}_docs")

    with GpuMemorySampler() as sampler:
        trained, seconds = pipeline(ws, docs, args.smoke, args.devices)
    total = round(sum(seconds.values()), 1)
    steps = default_step_times(ws, warm, timed, 64 if args.smoke else None)
    report = {
        "device": device_name(),
        "smoke": args.smoke,
        "devices": args.devices,
        "docs": str(docs),
        "seconds": seconds,
        "upload_to_tuned_model_s": total,
        "goal_s": GOAL_S,
        "goal_met": total <= GOAL_S,
        "shipped_run": trained.get("final_run_id") or trained["run_id"],
        "train_steps": trained.get("metrics", {}).get("steps"),
        "pipeline_peak_gpu_mib": sampler.peak_mib,
        "step_time": steps,
        "step_goal_met": steps["ratio"] <= GOAL_RATIO,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "gpu_end_to_end_smoke.json" if args.smoke else "gpu_end_to_end.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"device: {report['device']}  (results: bench/results/{name})")
    print("| stage | seconds |\n|---|---|")
    for stage, s in seconds.items():
        print(f"| {stage} | {s} |")
    print(f"| **upload -> tuned model** | **{total}** (goal <= {GOAL_S:g}) |")
    print(
        f"step: ours {steps['ours_s_per_step']:.4f} s, plain {steps['plain_s_per_step']:.4f} s, "
        f"ratio {steps['ratio']:.3f}x (goal <= {GOAL_RATIO}); batch {steps['batch_size']}"
    )
    if "ours_peak_allocated_mib" in steps:
        print(
            f"GPU memory: peak allocated ours {steps['ours_peak_allocated_mib']} MiB, plain "
            f"{steps['plain_peak_allocated_mib']} MiB; pipeline peak (nvidia-smi) "
            f"{sampler.peak_mib} MiB"
        )


if __name__ == "__main__":
    main()
