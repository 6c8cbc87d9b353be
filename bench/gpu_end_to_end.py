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
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_domain import DATA, REPO, RESULTS, STAGES, cli
from common import plain_trainer, step_clock

sys.path.insert(0, str(REPO))
GOAL_S = 180.0  # issue 17: upload -> tuned model in 3 minutes on one GPU
GOAL_RATIO = 1.05  # issue 17: our training step within 5% of a plain trainer's


class GpuMemorySampler:
    """Peak device memory in MiB that `nvidia-smi` reports, sampled every `every_s` seconds
    in a thread (the pipeline's work runs in other processes; torch cannot see it)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.peak_mib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int | None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        values = [int(v) for v in out.split() if v.strip().isdigit()]
        return max(values) if values else None

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self._sample()
            if used is None:
                return  # no NVIDIA GPU here
            self.peak_mib = max(self.peak_mib or 0, used)
            self._stop.wait(self.every_s)

    def __enter__(self) -> GpuMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


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


def step_times(ws_root: Path, warm: int, timed: int, max_seq_length: int | None = None) -> dict:
    """Seconds per step and peak allocated memory: ours vs a plain SentenceTransformerTrainer
    on the workspace's curated pairs with the default settings (`max_seq_length` overrides
    the default's, for the smoke run)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from core.devices import resolve_device
    from core.models import resolve_model
    from core.store import Workspace
    from core.training.config import TrainConfig
    from core.training.data import load_training_data
    from core.training.trainer import _callback, _Quiet, build_trainer

    ws = Workspace.open(ws_root)
    data = load_training_data(ws, validation_split="none")
    last = warm + timed
    # Checkpoints every 10^9 steps: never inside the timed window (the plain trainer saves none).
    cfg = TrainConfig(max_steps=last, checkpoint_steps=10**9)
    if max_seq_length:
        cfg.max_seq_length = max_seq_length
    cfg = cfg.resolved(data.counts()["records_by_kind"])
    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    out: dict = {"device": device, "batch_size": cfg.batch_size, "records": len(data.train)}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("plain", "ours"):
            model = SentenceTransformer(resolve_model(cfg.base_model), device=device)
            model.max_seq_length = cfg.max_seq_length
            clock = step_clock(only=(warm, last))
            if name == "ours":
                progress = _callback(_Quiet(), Path(tmp) / "progress.jsonl")
                trainer, _ = build_trainer(model, cfg, data, Path(tmp) / name, [clock, progress])
            else:
                trainer = plain_trainer(model, cfg, data, Path(tmp) / name, [clock])
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            trainer.train()
            out[f"{name}_s_per_step"] = round(clock.seconds_per_step(warm, last), 5)
            if cuda:
                out[f"{name}_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
            del trainer, model
    out["ratio"] = round(out["ours_s_per_step"] / out["plain_s_per_step"], 3)
    return out


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
    steps = step_times(ws, warm, timed, 64 if args.smoke else None)
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
