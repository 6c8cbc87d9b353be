"""Helpers shared by the bench scripts: data paths, the CLI runner, SciFact evaluation, the
memory harness and the training step clock (ours vs a plain `SentenceTransformerTrainer`).

Scripts import it as a sibling module (`from common import cli, RESULTS`): Python puts a
script's own folder first on `sys.path`, so `.venv/bin/python bench/SCRIPT.py` from the
repository root finds it, and `core` imports because the project is installed editable.
Heavy libraries (torch, sentence-transformers) are imported inside the helpers that need them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Self

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EMBSTUDIO_DATA") or REPO.parent / "shared" / "data")
SCIFACT = Path(os.environ.get("EMBSTUDIO_SCIFACT") or DATA / "scifact")
RESULTS = REPO / "bench" / "results"
EMBSTUDIO = str(Path(sys.executable).parent / "embstudio")  # the console script


def offline_env() -> None:
    """Models from the local cache only, and no tokenizer thread warnings (unless set)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --- the CLI -------------------------------------------------------------------------------


def cli(args: list[str]) -> tuple[dict, float]:
    """Run one `embstudio` command with --json (progress passes through to stderr);
    (its JSON output, seconds). A failing command ends the bench."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [EMBSTUDIO, *args, "--json"], cwd=REPO, stdout=subprocess.PIPE, text=True, check=False
    )
    seconds = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        raise SystemExit(f"`embstudio {' '.join(args)}` failed with exit code {proc.returncode}")
    return (json.loads(proc.stdout) if proc.stdout.strip() else {}), seconds


def repo_module(relative: str) -> ModuleType:
    """Load a module of the repository that is not installed (e.g. `tests/fake_openai.py`)
    from its file, without putting the repository on `sys.path`."""
    path = REPO / relative
    if path.stem in sys.modules:
        return sys.modules[path.stem]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# --- SciFact -------------------------------------------------------------------------------


def scifact_workspace(root: Path, max_docs: int | None = None, seed: int = 0):
    """Create (once) a workspace with SciFact imported: train qrels -> split train, test qrels
    -> split test. `max_docs` keeps every judged document plus random others up to that size."""
    from core.beir_data import load_corpus, load_qrels
    from core.beir_import import import_beir
    from core.store import Workspace

    if (root / "studio.db").is_file():
        return Workspace.open(root)
    ws = Workspace.create(root)
    doc_ids = None
    if max_docs:
        judged = {d for s in ("train", "test") for r in load_qrels(SCIFACT, s).values() for d in r}
        others = sorted(set(load_corpus(SCIFACT)) - judged)
        random.Random(seed).shuffle(others)
        doc_ids = judged | set(others[: max(0, max_docs - len(judged))])
    import_beir(ws, SCIFACT, splits={"train": "train", "test": "test"}, doc_ids=doc_ids)
    return ws


def evaluate_scifact(model_path: str, label: str) -> dict[str, float]:
    """nDCG@10 / Recall@10 on SciFact test (core.evaluation: exact search + pytrec_eval)."""
    from core.evaluation.compare import ModelSpec, evaluate_model
    from core.evaluation.datasets import beir_set

    out = evaluate_model(ModelSpec(label=label, model=model_path), beir_set(SCIFACT, "test"))
    agg = out.metrics.aggregate
    return {"ndcg@10": agg["NDCG@10"], "recall@10": agg["Recall@10"], "seconds": out.seconds}


def retrieval_scores(model, evalset) -> dict[str, float]:
    """Recall@1/3/10 and nDCG@10 of a loaded model on a BEIR set, per group where it has
    groups (the product's evaluator, exact search)."""
    from core.evaluation.metrics import evaluate
    from core.evaluation.search import dense_search

    results = dense_search(
        model,
        evalset.corpus,
        evalset.queries,
        top_k=100,
        doc_groups=evalset.doc_groups,
        query_groups=evalset.query_groups,
    )
    m = evaluate(evalset.qrels, results).aggregate
    return {k: round(m[k], 4) for k in ("Recall@1", "Recall@3", "Recall@10", "NDCG@10")}


# --- memory --------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int) -> float:
    """Current resident memory of another process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(script: str, *args: str) -> dict:
    """Run `script --worker ARGS` in a fresh process (so its peak RSS is its own) and return
    the JSON object it prints on its last line."""
    proc = subprocess.run(
        [sys.executable, script, "--worker", *args], capture_output=True, text=True, cwd=REPO
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


class PeakSampler:
    """A thread that calls `sample()` every `every_s` seconds while the `with` block runs;
    a subclass keeps its peak. `sample` returns False when there is nothing to measure here,
    which ends the sampling."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.sample() is False:
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class GpuMemorySampler(PeakSampler):
    """Peak device memory in MiB that `nvidia-smi` reports, sampled every `every_s` seconds
    in a thread (the pipeline's work runs in other processes; torch cannot see it)."""

    def __init__(self, every_s: float = 0.5) -> None:
        super().__init__(every_s)
        self.peak_mib: int | None = None

    def sample(self) -> bool:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return False  # no NVIDIA GPU here
        values = [int(v) for v in out.split() if v.strip().isdigit()]
        if not values:
            return False
        self.peak_mib = max(self.peak_mib or 0, max(values))
        return True


# --- training --------------------------------------------------------------------------------


def fit_pairs(pairs: list[tuple[str, str]], epochs: float, lr: float, batch: int, out_dir: Path):
    """Train the default base model with MNRL on (query, passage) pairs with the plain
    `SentenceTransformerTrainer` on CPU (in-batch negatives, warm-up 10%, seed 42), outside
    the job system; (model, optimizer steps)."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    from core.models import DEFAULT_BASE_MODEL, resolve_model

    model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
    model.max_seq_length = 256
    ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch,
        learning_rate=lr,
        warmup_ratio=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        logging_steps=1000,
        report_to=[],
        seed=42,
        use_cpu=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=ds, loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    return model, trainer.state.global_step


def plain_trainer(model, cfg, data, out_dir: Path, callbacks: list, device: str):
    """A plain `SentenceTransformerTrainer` with MNRL on the same dataset, batch size, sampler
    and optimizer settings as our trainer (`core.training.trainer.build_trainer`) would use."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from core.training.objectives import triplet_dataset

    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir),
        max_steps=cfg.max_steps,
        num_train_epochs=float(cfg.epochs or 3.0),  # when max_steps is -1
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        report_to="none",
        use_cpu=not device.startswith("cuda"),
        disable_tqdm=True,
    )
    return SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=triplet_dataset(data, cfg.negatives_per_query, cfg.seed),
        loss=MultipleNegativesRankingLoss(model, scale=cfg.scale),
        callbacks=callbacks,
    )


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _step_clock(warm: int, last: int):
    """A TrainerCallback timing the steps after `warm` up to `last` between two device syncs
    (`warm` 0: from the start of training to its end)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = self.t1 = 0.0

        def _now(self) -> float:
            _sync()
            return time.perf_counter()

        def on_train_begin(self, args, state, control, **kw):
            if warm == 0:
                self.t0 = self._now()

        def on_train_end(self, args, state, control, **kw):
            if warm == 0:
                self.t1 = self._now()

        def on_step_end(self, args, state, control, **kw):
            if warm and state.global_step == warm:
                self.t0 = self._now()
            elif warm and state.global_step == last:
                self.t1 = self._now()

        def seconds_per_step(self) -> float:
            return (self.t1 - self.t0) / (last - warm)

    return StepClock()


def step_times(ws, cfg, warm: int = 0) -> dict:
    """Seconds per step and, on CUDA, peak allocated memory: our trainer (`build_trainer` +
    the progress callback) vs `plain_trainer` on the workspace's training data, same config
    (its empty fields filled from the preset in force, as our trainer does).
    The clock runs from step `warm` to `cfg.max_steps` (`warm` 0: the whole of `train()`)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from core.devices import resolve_device
    from core.models import resolve_model
    from core.training.data import load_training_data
    from core.training.trainer import _callback, _Quiet, build_trainer

    data = load_training_data(ws, validation_split="none")
    cfg = cfg.resolved(data.counts()["records_by_kind"])  # as build_trainer resolves it
    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    last = cfg.max_steps
    out: dict = {"device": device, "batch_size": cfg.batch_size, "records": len(data.train)}
    out["negatives_per_query"] = cfg.negatives_per_query
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("plain", "ours"):
            model = SentenceTransformer(resolve_model(cfg.base_model), device=device)
            model.max_seq_length = cfg.max_seq_length
            clock = _step_clock(warm, last)
            if name == "ours":
                progress = _callback(_Quiet(), Path(tmp) / "progress.jsonl")
                trainer, _ = build_trainer(model, cfg, data, Path(tmp) / name, [clock, progress])
            else:
                trainer = plain_trainer(model, cfg, data, Path(tmp) / name, [clock], device)
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            trainer.train()
            out[f"{name}_s_per_step"] = round(clock.seconds_per_step(), 5)
            if cuda:
                out[f"{name}_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
            del trainer, model
    out["ratio"] = round(out["ours_s_per_step"] / out["plain_s_per_step"], 3)
    return out


def step_clock():
    """A TrainerCallback noting, after a device sync, when training begins and when each
    optimizer step ends: per-step durations (for a median), where `_step_clock` gives one
    mean. The time between two step ends covers everything a trainer does per step: the
    batch, forward, backward, optimizer, logging and every callback."""
    import itertools

    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: dict[int, float] = {}

        def _note(self, step: int) -> None:
            _sync()
            self.ends[step] = time.perf_counter()

        def on_train_begin(self, args, state, control, **kw):
            self._note(state.global_step)

        def on_step_end(self, args, state, control, **kw):
            self._note(state.global_step)

        def durations(self, warm: int = 0) -> list[float]:
            """Seconds of each step after the first `warm` steps."""
            steps = sorted(self.ends)
            return [self.ends[b] - self.ends[a] for a, b in itertools.pairwise(steps) if a >= warm]

    return StepClock()
