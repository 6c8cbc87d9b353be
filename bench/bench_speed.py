"""Speed and memory of the default pipeline, measured alone (issue 25, item 1).

Run it on an otherwise idle machine: it prints `uptime` before and after, and a load average
well above zero means other work shared the cores and the figures are not the machine's.
Every ratio compares two things measured side by side in the same run. Four sections, each
runnable alone (`--only training,stages,onnx,bm25`):

- stages: the default pipeline on syllabusqa-dev through the CLI, as a user runs it: `init`,
  `ingest`, `generate`, `pairs --accept-all`, `mine`, `train --wait` (its split run and final
  fit read from their metrics.json), `evaluate --run RUN-all --beir syllabusqa-dev --group
  syllabus`: seconds and peak RSS of each, sampled with psutil over the command's process tree
  (the job worker that `train --wait` starts included; "tree" sums every process of it), and
  the dev nDCG@10 / Recall@3 of the shipped model, so a speed change is checked against quality
  in the same run.
- training: seconds per optimizer step (median of `--steps` after `--warm`, clocked between
  step ends) of our trainer (`build_trainer` with the progress callback) vs a plain
  `SentenceTransformerTrainer` with MNRL (bench/common.py) on the same records, batch (32) and
  settings, each in its own process with its peak RSS (goal: ours <= 1.05x); and our whole
  `embstudio train --wait` (split run + final fit; the stages section's when it ran) vs one
  plain `train()` on what the final fit trains on (every curated pair, its resolved settings).
- onnx: PyTorch vs ONNX fp32 vs ONNX int8 (every plan of core/export/quantize.py; the first
  one within the 0.99 gate is the product's pick) of the base model or `--model` (a model or
  run folder) on CPU at batch 1 and 32: texts/s, ratio to torch (backends interleaved round by
  round; medians), and int8 mean / min cosine against torch on syllabusqa-dev passages and
  questions (goal: int8 >= 2.5x with mean >= 0.995).
- bm25: the hybrid search layer (core/retrieval/) over syllabusqa-dev's and SciFact's
  corpora: BM25 index build, and single-query latency p50/p95 of bm25 alone, dense alone
  (exact) and the fused hybrid (min-max, weight 0.5), against a plain `bm25s` index and
  `retrieve` measured in the same run (queries ungrouped, top 10).

Results go to bench/results/speed.json (speed_quick.json with --quick), and a Markdown table
is printed. `--quick` is a smoke test of every code path, not a measurement: one syllabus of
about 10 kB (windows held out, so a final fit follows), 12 chunks generated, 2 steps per fit,
1 step timed after 1, 32 texts and one round for ONNX, 300-document corpus slices and 20
queries for BM25.

    python bench/bench_speed.py                          # every section, on an idle machine
    python bench/bench_speed.py --only training,onnx
    python bench/bench_speed.py --quick                  # smoke test: small slices, 2 steps
    python bench/bench_speed.py --only onnx --model WS/runs/RUN-all

`--docs` / `--beir` (or EMBSTUDIO_DATA=<folder holding syllabusqa-dev/ and scifact/>) say
where the data are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from common import (
    DATA,
    EMBSTUDIO,
    REPO,
    RESULTS,
    PeakSampler,
    offline_env,
    peak_rss_mb,
    plain_trainer,
    run_worker,
    step_clock,
)

offline_env()
WORK = RESULTS / "speed_ws"
SECTIONS = ("training", "stages", "onnx", "bm25")
RUN_ORDER = ("stages", "training", "onnx", "bm25")  # training reuses the stages' workspace
GOAL_STEP_RATIO = 1.05
GOAL_INT8_SPEED = 2.5
GOAL_INT8_PARITY = 0.995
TOP_K = 10


@dataclass(frozen=True)
class Sizes:
    quick: bool = False
    warm: int = 3  # training steps before the clock counts
    steps: int = 10  # training steps timed per trainer
    onnx_texts: int = 128  # texts embedded at batch 32 (and parity texts)
    onnx_single: int = 32  # texts embedded one at a time (batch 1)
    rounds: int = 5  # interleaved rounds per ONNX figure
    corpus_docs: int | None = None  # bm25 section: corpus slice (None: all)
    queries: int = 200  # bm25 section: single queries timed per retriever
    builds: int = 3  # bm25 index builds timed (median)


QUICK = Sizes(
    quick=True,
    warm=1,
    steps=1,
    onnx_texts=32,
    onnx_single=8,
    rounds=1,
    corpus_docs=300,
    queries=20,
    builds=1,
)


# ------------------------------------------------------------------------------ measuring
class TreeRss(PeakSampler):
    """Peak RSS (MB) of process `pid` and its descendants, sampled every `every_s` seconds in
    a thread: `one` the largest single process, `tree` the largest sum over the tree."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(every_s)
        self.pid = pid
        self.one = self.tree = 0.0

    def sample(self) -> bool:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return True  # not started yet, or gone: the with block decides when to stop
        sizes = []
        for p in procs:
            try:
                sizes.append(p.memory_info().rss / 2**20)
            except psutil.Error:
                continue
        if sizes:
            self.one = max(self.one, max(sizes))
            self.tree = max(self.tree, sum(sizes))
        return True


def measured(cmd: list[str]) -> tuple[str, float, dict[str, float]]:
    """Run `cmd` (progress passes through to stderr); (stdout, seconds, peak RSS in MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    with TreeRss(proc.pid) as rss:
        out, _ = proc.communicate()
    seconds = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")
    return out, seconds, {"peak_rss_mb": round(rss.one), "peak_tree_rss_mb": round(rss.tree)}


def cli(args: list[str]) -> tuple[dict, float, dict[str, float]]:
    """One `embstudio` command with --json: (its output, seconds, peak RSS)."""
    out, seconds, mem = measured([EMBSTUDIO, *args, "--json"])
    print(f"== embstudio {args[0]}: {seconds} s, peak RSS {mem['peak_rss_mb']} MB", flush=True)
    return (json.loads(out) if out.strip() else {}), seconds, mem


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.array(values), q))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_metrics(ws: Path, run_id: str) -> dict:
    path = ws / "runs" / run_id / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


QUICK_DOC_BYTES = 10_000  # about a dozen chunks: a held-out window, so a final fit follows


def quick_doc(docs: Path, target: Path) -> Path:
    """A folder holding one document of `docs` for the quick run: the smallest of at least
    QUICK_DOC_BYTES (core/splits.py holds windows of its chunks out, so the final fit runs
    too), else the largest."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files = sorted((p for p in docs.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    pick = next((p for p in files if p.stat().st_size >= QUICK_DOC_BYTES), files[-1])
    shutil.copy(pick, target / pick.name)
    return target


def pipeline_commands(ws: Path, docs: Path, sizes: Sizes) -> dict[str, list[str]]:
    """The default pipeline up to a trained model (quick: 12 chunks, 2 steps per fit)."""
    return {
        "init": ["init", str(ws)],
        "ingest": ["ingest", str(ws), str(docs)],
        "generate": ["generate", str(ws)] + (["--limit-chunks", "12"] if sizes.quick else []),
        "accept": ["pairs", str(ws), "--accept-all"],
        "mine": ["mine", str(ws)],
        "train": ["train", str(ws), "--wait"] + (["--max-steps", "2"] if sizes.quick else []),
    }


# ------------------------------------------------------------------------------ stages
_STATE: dict[str, object] = {}  # what one section leaves for the next in the same run


def train_detail(ws: Path, trained: dict, seconds: float) -> dict:
    """The split run's and the final fit's training seconds and steps, and the rest of the
    `train --wait` wall time (start-up, model loads, validation, saving)."""
    split = run_metrics(ws, trained["run_id"])
    final_id = trained.get("final_run_id")
    final = run_metrics(ws, final_id) if final_id else {}
    out = {
        "split_run": trained["run_id"],
        "split_train_s": split.get("train_seconds"),
        "split_steps": split.get("steps"),
        "split_s_per_step": split.get("seconds_per_step"),
        "final_run": final_id,
        "final_train_s": final.get("train_seconds"),
        "final_steps": final.get("steps"),
        "final_s_per_step": final.get("seconds_per_step"),
        "records": split.get("data", {}).get("train_records"),
    }
    trained_s = (out["split_train_s"] or 0) + (out["final_train_s"] or 0)
    out["other_s"] = round(seconds - trained_s, 1)
    return out


def stages(sizes: Sizes, docs: Path, beir: Path, group: str) -> dict:
    ws = WORK / "stages"
    shutil.rmtree(ws, ignore_errors=True)
    ws.parent.mkdir(parents=True, exist_ok=True)
    if sizes.quick:
        docs = quick_doc(docs, WORK / "stages_docs")
    rows: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    for name, args in pipeline_commands(ws, docs, sizes).items():
        outputs[name], seconds, mem = cli(args)
        rows[name] = {"seconds": seconds, **mem}
    trained = outputs["train"]
    detail = train_detail(ws, trained, rows["train"]["seconds"])
    shipped = trained.get("final_run_id") or trained["run_id"]
    evaluated, seconds, mem = cli(
        ["evaluate", str(ws), "--run", shipped, "--beir", str(beir), "--group", group]
    )
    rows["evaluate"] = {"seconds": seconds, **mem}
    by_label = {m["label"]: m["metrics"] for m in evaluated["models"]}
    quality = {
        label: {k: by_label[label].get(k) for k in ("NDCG@10", "Recall@3")}
        for label in ("base", shipped, "bm25", f"{shipped}+bm25")
        if label in by_label
    }
    to_tuned = round(sum(r["seconds"] for n, r in rows.items() if n != "evaluate"), 1)
    _STATE.update(ws=ws, train_seconds=rows["train"]["seconds"], train=detail)
    _STATE["train_mem"] = {k: rows["train"][k] for k in ("peak_rss_mb", "peak_tree_rss_mb")}
    return {
        "workspace": str(ws),
        "docs": str(docs),
        "stages": rows,
        "train": detail,
        "upload_to_tuned_s": to_tuned,
        "upload_to_scored_s": round(to_tuned + rows["evaluate"]["seconds"], 1),
        "shipped_run": shipped,
        "quality": quality,
        "generated": {k: outputs["generate"].get(k) for k in ("kept", "dropped", "by_kind")},
    }


# ------------------------------------------------------------------------------ training
def training_child(args: argparse.Namespace) -> None:
    """In its own process (`--worker ours|plain`): one trainer on the workspace's curated
    pairs; prints its step times, training seconds and peak RSS as JSON on its last line."""
    from core.devices import resolve_device
    from core.models import open_model
    from core.runs import model_location
    from core.store import Workspace
    from core.training.config import TrainConfig
    from core.training.data import load_training_data
    from core.training.trainer import _callback, _Quiet, build_trainer

    ws = Workspace.open(args.child_ws)
    if args.child_config:  # the settings a run resolved (the final fit's), steps as given
        cfg = TrainConfig.from_json(args.child_config)
        if args.child_steps > 0:
            cfg = replace(cfg, max_steps=args.child_steps)
    else:  # the defaults; no checkpoint inside the clock's window
        cfg = TrainConfig(max_steps=args.child_steps, checkpoint_steps=10**9)
    data = load_training_data(
        ws, cfg.train_split, "none", seed=cfg.seed, kind_weights=cfg.kind_weights
    )
    cfg = cfg.resolved(data.counts()["records_by_kind"])
    device = resolve_device(cfg.device)
    model = open_model(model_location(ws, cfg.base_model), device=device)
    model.max_seq_length = cfg.max_seq_length
    clock = step_clock()
    with tempfile.TemporaryDirectory() as tmp:
        if args.worker == "ours":
            progress = _callback(_Quiet(), Path(tmp) / "progress.jsonl")
            trainer, _ = build_trainer(model, cfg, data, Path(tmp) / "out", [clock, progress])
        else:
            trainer = plain_trainer(model, cfg, data, Path(tmp) / "out", [clock], device)
        t0 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t0
    import torch

    steps = clock.durations(args.child_warm)
    out = {
        "trainer": args.worker,
        "records": len(data.train),
        "batch_size": cfg.batch_size,
        "max_seq_length": cfg.max_seq_length,
        "negatives": cfg.negatives_per_query,
        "steps": trainer.state.global_step,
        "train_s": round(train_s, 2),
        "step_s": [round(s, 4) for s in steps],
        "median_step_s": round(statistics.median(steps), 4) if steps else None,
        "peak_rss_mb": round(peak_rss_mb()),
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(out))


def run_child(kind: str, ws: Path, steps: int, warm: int, config: Path | None = None) -> dict:
    """A training worker process (see `training_child`); its report plus its wall seconds."""
    args = [kind, "--child-ws", str(ws), "--child-steps", str(steps), "--child-warm", str(warm)]
    if config is not None:
        args += ["--child-config", str(config)]
    t0 = time.perf_counter()
    report = run_worker(str(Path(__file__).resolve()), *args)
    seconds = round(time.perf_counter() - t0, 1)
    print(f"== {kind} trainer: {report['steps']} steps, {report['train_s']} s", flush=True)
    return {**report, "wall_s": seconds}


def prepared_workspace(docs: Path, sizes: Sizes) -> Path:
    """A workspace with curated pairs and mined negatives: the stages section's when it ran
    in this run, else a fresh one (init .. mine through the CLI)."""
    if "ws" in _STATE:
        return Path(str(_STATE["ws"]))
    ws = WORK / "training"
    shutil.rmtree(ws, ignore_errors=True)
    ws.parent.mkdir(parents=True, exist_ok=True)
    if sizes.quick:
        docs = quick_doc(docs, WORK / "training_docs")
    for name, args in pipeline_commands(ws, docs, sizes).items():
        if name != "train":
            cli(args)
    return ws


def training(sizes: Sizes, docs: Path) -> dict:
    ws = prepared_workspace(docs, sizes)
    last = sizes.warm + sizes.steps
    step = {kind: run_child(kind, ws, last, sizes.warm) for kind in ("plain", "ours")}
    ratio = step["ours"]["median_step_s"] / step["plain"]["median_step_s"]

    if "train" in _STATE:  # the stages section's `train --wait`, same run, same workspace
        ours_wall, detail, source = _STATE["train_seconds"], _STATE["train"], "stages"
        ours_mem = _STATE["train_mem"]
    else:
        train_args = pipeline_commands(ws, docs, sizes)["train"]
        trained, ours_wall, ours_mem = cli(train_args)
        detail, source = train_detail(ws, trained, ours_wall), "this section"
    shipped = detail["final_run"] or detail["split_run"]
    config = ws / "runs" / shipped / "config.json"
    plain = run_child("plain", ws, 2 if sizes.quick else -1, 0, config)
    final_s = detail["final_train_s"] or detail["split_train_s"]
    return {
        "workspace": str(ws),
        "step": {
            **step,
            "ratio": round(ratio, 3),
            "goal": GOAL_STEP_RATIO,
            "goal_met": ratio <= GOAL_STEP_RATIO,
        },
        "whole": {
            "ours_train_wait_s": ours_wall,
            "ours_from": source,
            "ours_peak_rss_mb": ours_mem["peak_rss_mb"],
            "ours": detail,
            "plain_train_s": plain["train_s"],
            "plain_wall_s": plain["wall_s"],
            "plain_steps": plain["steps"],
            "plain_peak_rss_mb": plain["peak_rss_mb"],
            "ratio_wall": round(ours_wall / plain["wall_s"], 3),
            "ratio_final_fit_to_plain_train": round(final_s / plain["train_s"], 3)
            if final_s
            else None,
        },
    }


# ------------------------------------------------------------------------------ onnx
def model_folder(name: str | None) -> Path:
    """The sentence-transformers folder of `--model`: the base model, a model folder, or a
    run folder (its model/)."""
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    path = Path(resolve_model(name or DEFAULT_BASE_MODEL))
    if (path / "model" / "modules.json").is_file():
        return path / "model"
    if not (path / "modules.json").is_file():
        raise SystemExit(f"{path} is not a sentence-transformers model or run folder")
    return path


def sample_texts(beir: Path, n: int, seed: int = 0) -> list[str]:
    """n texts of the set: passages (7/8) and questions (1/8), as core/export/parity.py mixes
    a workspace's chunks and queries."""
    import random

    from core.evaluation.datasets import beir_set
    from core.evaluation.search import doc_text

    evalset = beir_set(beir, "test")
    rng = random.Random(seed)
    queries = rng.sample(list(evalset.queries.values()), min(len(evalset.queries), n // 8))
    docs = [doc_text(d) for d in evalset.corpus.values()]
    texts = queries + rng.sample(docs, min(len(docs), n - len(queries)))
    rng.shuffle(texts)
    return texts


def throughput(embedders: dict, texts: list[str], batch: int, rounds: int) -> dict[str, dict]:
    """texts/s of each embedder (median over rounds, the order rotated each round) and its
    ratio to torch (median of the per-round ratios)."""
    names = list(embedders)
    for e in embedders.values():  # warm-up: allocation, graph optimisation, thread pools
        e.embed(texts[:batch], batch)
    speed: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            if batch == 1:
                for t in texts:
                    embedders[name].embed([t], 1)
            else:
                embedders[name].embed(texts, batch)
            speed[name].append(len(texts) / (time.perf_counter() - t0))
    return {
        n: {
            "texts_per_s": round(statistics.median(v), 2),
            "vs_torch": round(
                statistics.median(a / b for a, b in zip(v, speed["torch"], strict=True)), 3
            ),
        }
        for n, v in speed.items()
    }


def onnx(sizes: Sizes, model: str | None, beir: Path) -> dict:
    import torch

    from core.export.onnx_export import export_onnx
    from core.export.parity import THRESHOLDS, compare
    from core.export.quantize import INT8_PLANS, quantize_int8
    from core.export.runtime import OnnxEmbedder, TorchEmbedder

    source = model_folder(model)
    out = WORK / "onnx"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    export_onnx(source, out / "onnx")
    export_s = round(time.perf_counter() - t0, 1)
    quantize_s: dict[str, float] = {}
    folders = {"onnx-fp32": out / "onnx"}
    for i, (plan, keep) in enumerate(INT8_PLANS.items()):
        t0 = time.perf_counter()
        quantize_int8(out / "onnx", out / f"int8-{i}", keep_fp32=keep, plan=plan)
        quantize_s[plan] = round(time.perf_counter() - t0, 1)
        folders[f"onnx-int8 ({plan})"] = out / f"int8-{i}"
    print(f"== onnx: exported in {export_s} s, int8 plans {quantize_s}", flush=True)

    texts = sample_texts(beir, sizes.onnx_texts)
    embedders = {"torch": TorchEmbedder(source)}
    embedders.update({name: OnnxEmbedder(folder) for name, folder in folders.items()})
    reference = embedders["torch"].embed(texts)
    parity = {}
    for name in folders:
        precision = "fp32" if name == "onnx-fp32" else "int8"
        p = compare(reference, embedders[name].embed(texts), precision)
        parity[name] = {"mean": round(p.mean, 5), "min": round(p.min, 5), "passed": p.passed}
    int8 = [n for n in folders if n != "onnx-fp32"]
    picked = next((n for n in int8 if parity[n]["passed"]), None)
    speed = {
        "batch_1": throughput(embedders, texts[: sizes.onnx_single], 1, sizes.rounds),
        "batch_32": throughput(embedders, texts, 32, sizes.rounds),
    }
    best = [
        n
        for n in int8
        if parity[n]["mean"] >= GOAL_INT8_PARITY
        and speed["batch_32"][n]["vs_torch"] >= GOAL_INT8_SPEED
    ]
    return {
        "model": str(source),
        "texts": len(texts),
        "threads": {"torch": torch.get_num_threads(), "onnxruntime": "one per core"},
        "export_s": export_s,
        "quantize_s": quantize_s,
        "parity": parity,
        "parity_gate": THRESHOLDS["int8"],
        "product_pick": picked,
        "speed": speed,
        "goal": f"int8 >= {GOAL_INT8_SPEED}x torch at batch 32 with mean >= {GOAL_INT8_PARITY}",
        "plans_meeting_goal": best,
    }


# ------------------------------------------------------------------------------ bm25
def latencies(search: dict, queries: list[str]) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds of single-query searches, retrievers interleaved per query."""
    names = list(search)
    for name in names:  # warm-up
        for q in queries[:3]:
            search[name](q)
    ms: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            search[name](q)
            ms[name].append((time.perf_counter() - t0) * 1000)
    return {
        n: {"p50_ms": round(pct(v, 50), 2), "p95_ms": round(pct(v, 95), 2)} for n, v in ms.items()
    }


def bm25_set(sizes: Sizes, folder: Path, group: str | None, model, location: str) -> dict:
    import bm25s

    from core.evaluation.datasets import beir_set
    from core.evaluation.search import bm25_retriever, dense_retriever, passages_of
    from core.retrieval.bm25 import STOPWORDS
    from core.retrieval.fusion import DEFAULT_WEIGHT, FusedRetriever

    evalset = beir_set(folder, "test", group)
    if sizes.corpus_docs:
        keep = list(evalset.corpus)[: sizes.corpus_docs]
        evalset = replace(evalset, corpus={d: evalset.corpus[d] for d in keep})
    texts = passages_of(evalset).texts
    queries = list(evalset.queries.values())[: sizes.queries]

    def plain_index():
        index = bm25s.BM25()
        index.index(
            bm25s.tokenize(texts, stopwords=STOPWORDS, show_progress=False), show_progress=False
        )
        return index

    builds: dict[str, list[float]] = {"ours": [], "plain": []}
    built: dict = {}
    for _ in range(sizes.builds):
        for name, build in (("plain", plain_index), ("ours", lambda: bm25_retriever(evalset))):
            t0 = time.perf_counter()
            built[name] = build()
            builds[name].append(time.perf_counter() - t0)
    bm25, plain = built["ours"], built["plain"]
    t0 = time.perf_counter()
    dense = dense_retriever(None, evalset, location, model)
    dense_s = round(time.perf_counter() - t0, 1)
    hybrid = FusedRetriever(dense, bm25, DEFAULT_WEIGHT, "minmax")
    k = min(TOP_K, len(texts))

    def plain_search(q: str):
        tokens = bm25s.tokenize([q], stopwords=STOPWORDS, return_ids=False, show_progress=False)
        return plain.retrieve(tokens, k=k, show_progress=False)

    lat = latencies(
        {
            "bm25s (plain)": plain_search,
            "bm25": lambda q: bm25.search([q], k),
            "dense (exact)": lambda q: dense.search([q], k),
            "hybrid": lambda q: hybrid.search([q], k),
        },
        queries,
    )
    build_ours = statistics.median(builds["ours"])
    build_plain = statistics.median(builds["plain"])
    print(f"== bm25 {evalset.name}: {len(texts)} passages, {len(queries)} queries", flush=True)
    return {
        "passages": len(texts),
        "queries": len(queries),
        "build_s": {"ours": round(build_ours, 3), "plain": round(build_plain, 3)},
        "build_ratio": round(build_ours / build_plain, 3),
        "dense_encode_s": dense_s,
        "latency": lat,
        "query_ratio_p50": round(lat["bm25"]["p50_ms"] / lat["bm25s (plain)"]["p50_ms"], 3),
    }


def bm25(sizes: Sizes, model: str | None, beir: Path, group: str, scifact: Path) -> dict:
    from core.models import open_model

    location = str(model_folder(model))
    encoder = open_model(location, device="cpu")
    return {
        "model": location,
        "sets": {
            beir.name: bm25_set(sizes, beir, group, encoder, location),
            scifact.name: bm25_set(sizes, scifact, None, encoder, location),
        },
    }


# ------------------------------------------------------------------------------ report
def table(report: dict) -> str:
    """One Markdown table of every figure and ratio."""
    rows: list[tuple[str, ...]] = []
    s = report["sections"]
    if "training" in s:
        st, wh = s["training"]["step"], s["training"]["whole"]
        rows.append(
            (
                "training",
                f"s per step, batch {st['ours']['batch_size']}, median of {len(st['ours']['step_s'])}",
                f"{st['ours']['median_step_s']}",
                f"{st['plain']['median_step_s']} (plain trainer)",
                f"{st['ratio']}x",
                f"<= {GOAL_STEP_RATIO}x",
            )
        )
        rows.append(
            (
                "training",
                "peak RSS of the step timing (MB)",
                f"{st['ours']['peak_rss_mb']}",
                f"{st['plain']['peak_rss_mb']} (plain trainer)",
                "",
                "<= 3000",
            )
        )
        rows.append(
            (
                "training",
                "`train --wait` (split run + final fit) vs plain `train()` process, s",
                f"{wh['ours_train_wait_s']}",
                f"{wh['plain_wall_s']} ({wh['plain_steps']} steps)",
                f"{wh['ratio_wall']}x",
                "",
            )
        )
        rows.append(
            (
                "training",
                "shipped fit's training (final fit, else split run) vs plain `train()`, same pairs, s",
                f"{wh['ours']['final_train_s'] or wh['ours']['split_train_s']}",
                f"{wh['plain_train_s']}",
                f"{wh['ratio_final_fit_to_plain_train']}x",
                "",
            )
        )
    if "stages" in s:
        sg = s["stages"]
        for name, r in sg["stages"].items():
            rows.append(
                (
                    "stages",
                    f"{name}: s / peak RSS MB (tree)",
                    f"{r['seconds']}",
                    f"{r['peak_rss_mb']} ({r['peak_tree_rss_mb']})",
                    "",
                    "",
                )
            )
        tr = sg["train"]
        rows.append(
            (
                "stages",
                "train: split run / final fit training s (steps); rest",
                f"{tr['split_train_s']} ({tr['split_steps']}) / {tr['final_train_s']} "
                f"({tr['final_steps']})",
                f"rest {tr['other_s']}",
                "",
                "",
            )
        )
        rows.append(
            ("stages", "upload -> tuned model, s", f"{sg['upload_to_tuned_s']}", "", "", "<= 300")
        )
        rows.append(
            ("stages", "upload -> scored model, s", f"{sg['upload_to_scored_s']}", "", "", "")
        )
        for label, q in sg["quality"].items():
            rows.append(
                (
                    "stages",
                    f"dev nDCG@10 / Recall@3: {label}",
                    f"{q['NDCG@10']:.4f} / {q['Recall@3']:.4f}",
                    "",
                    "",
                    "",
                )
            )
    if "onnx" in s:
        ox = s["onnx"]
        for batch in ("batch_1", "batch_32"):
            torch_speed = ox["speed"][batch]["torch"]["texts_per_s"]
            for name, v in ox["speed"][batch].items():
                if name == "torch":
                    continue
                p = ox["parity"][name]
                pick = " (product's pick)" if name == ox["product_pick"] else ""
                rows.append(
                    (
                        "onnx",
                        f"{name}{pick}, {batch.replace('_', ' ')}: texts/s; cos mean/min",
                        f"{v['texts_per_s']}; {p['mean']:.4f}/{p['min']:.4f}",
                        f"{torch_speed} (torch)",
                        f"{v['vs_torch']}x",
                        f">= {GOAL_INT8_SPEED}x, mean >= {GOAL_INT8_PARITY}"
                        if "int8" in name
                        else "",
                    )
                )
    if "bm25" in s:
        for name, b in s["bm25"]["sets"].items():
            rows.append(
                (
                    "bm25",
                    f"{name} ({b['passages']} passages): index build s",
                    f"{b['build_s']['ours']}",
                    f"{b['build_s']['plain']} (bm25s)",
                    f"{b['build_ratio']}x",
                    "",
                )
            )
            plain = b["latency"]["bm25s (plain)"]
            for ret, v in b["latency"].items():
                if ret == "bm25s (plain)":
                    continue
                ratio = f"{b['query_ratio_p50']}x" if ret == "bm25" else ""
                base = f"{plain['p50_ms']} / {plain['p95_ms']} (bm25s)" if ret == "bm25" else ""
                rows.append(
                    (
                        "bm25",
                        f"{name}: {ret} query p50 / p95 ms",
                        f"{v['p50_ms']} / {v['p95_ms']}",
                        base,
                        ratio,
                        "",
                    )
                )
    lines = [
        "| section | measure | ours | baseline | ratio | goal |",
        "|---|---|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    ap.add_argument("--quick", action="store_true", help="smoke test: small slices, 2 steps")
    ap.add_argument("--docs", default=str(DATA / "syllabusqa-dev" / "docs"))
    ap.add_argument("--beir", default=str(DATA / "syllabusqa-dev"), help="the dev BEIR folder")
    ap.add_argument("--group", default="syllabus", help="the dev set's document group field")
    ap.add_argument("--scifact", default=str(DATA / "scifact"))
    ap.add_argument("--model", default=None, help="onnx/bm25: a model or run folder (base)")
    ap.add_argument("--warm", type=int, default=None, help="training steps before timing (3)")
    ap.add_argument("--steps", type=int, default=None, help="training steps timed (10)")
    for hidden in ("--worker", "--child-ws", "--child-config"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--child-steps", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--child-warm", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        training_child(args)
        return
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    sizes = QUICK if args.quick else Sizes()
    if args.warm is not None:
        sizes = replace(sizes, warm=args.warm)
    if args.steps is not None:
        sizes = replace(sizes, steps=args.steps)
    docs, beir, scifact = Path(args.docs), Path(args.beir), Path(args.scifact)
    for path in (docs, beir) + ((scifact,) if "bm25" in only else ()):
        if not path.is_dir():
            raise SystemExit(f"no folder {path}: pass --docs/--beir/--scifact or EMBSTUDIO_DATA")

    import torch

    before = uptime()
    print(f"uptime before: {before}", flush=True)
    report: dict = {
        "quick": sizes.quick,
        "sizes": sizes.__dict__,
        "uptime_before": before,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "sections": {},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / ("speed_quick.json" if sizes.quick else "speed.json")
    run = {
        "stages": lambda: stages(sizes, docs, beir, args.group),
        "training": lambda: training(sizes, docs),
        "onnx": lambda: onnx(sizes, args.model, beir),
        "bm25": lambda: bm25(sizes, args.model, beir, args.group, scifact),
    }
    for section in RUN_ORDER:
        if section not in only:
            continue
        print(f"\n### {section}", flush=True)
        t0 = time.perf_counter()
        report["sections"][section] = run[section]()
        report.setdefault("section_s", {})[section] = round(time.perf_counter() - t0, 1)
        target.write_text(json.dumps(report, indent=2, default=str) + "\n")  # partial results
    report["uptime_after"] = uptime()
    target.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nuptime before: {before}\nuptime after:  {report['uptime_after']}")
    if sizes.quick:
        print("(--quick: tiny sizes, a smoke test; these figures are not measurements)")
    print(table(report))
    print(f"results: {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
