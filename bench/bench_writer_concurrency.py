"""Writer throughput against a served LLM: questions/s through the real generation path
(`core.generation.pipeline.generate`: prompts, endpoint requests, filters, storage) against the
local fake OpenAI server answering every request after `--latency` seconds, at several
concurrency settings. A writer that keeps the server busy reaches concurrency / latency
requests/s over the server's busy window (first request in to last answer out; the run's
model loading and set-up before the first request are not the server's time, and are in the
run's questions/s); the table prints that ideal and the ratio (goal: >= 0.8).

Two LLM kinds ("simple", "structural"), one question each, heuristic judge: every chunk is
two requests of one question each (the LLM judge would add one request per question). The
workspace holds the 11 syllabi of syllabusqa-dev (338 chunks); each concurrency writes for
`--waves` x concurrency / 2 chunks, so a run is about `--waves` full rounds of requests.

The filters embed every question with the base model, on this machine's CPU; that caps a run
at the CPU's questions/s whatever the server does. So the rows measuring the writing path use
a constant-time stand-in embedder (`HashEmbedder`), and `--real-at` adds rows with the real
base model, which show where this CPU caps the run.

    python bench/bench_writer_concurrency.py [--latency 2.0] [--concurrency 1,8,32,64]
        [--real-at 64]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import DATA, RESULTS, offline_env, repo_module

from core.store import Workspace

offline_env()

DOCS = Path(os.environ.get("EMBSTUDIO_SYLLABI") or DATA / "syllabusqa-dev" / "docs")
KINDS = ("simple", "structural")


def syllabus_workspace(root: Path) -> Workspace:
    """Create (once) a workspace with the syllabi ingested (default chunking)."""
    from core.ingest import ingest_files

    if (root / "studio.db").is_file():
        return Workspace.open(root)
    ws = Workspace.create(root)
    ingest_files(ws, [(p.name, p.read_bytes()) for p in sorted(DOCS.glob("*.txt"))])
    return ws


class HashEmbedder:
    """A constant-time stand-in for the base model: a fixed unit vector per text (384-d)."""

    def encode(self, texts: list[str], **_: object):
        import zlib

        import numpy as np

        out = np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(384) for t in texts]
        ).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def run_one(template: Path, server, embedder, concurrency: int, chunks: int) -> dict:
    """One first run on a fresh copy of the prepared workspace (no earlier pairs to dedup)."""
    import shutil
    import tempfile

    from core.generation.pipeline import GenerateSettings, generate

    default_answer = repo_module("tests/fake_openai.py").default_answer

    settings = GenerateSettings(
        provider="openai",
        model="fake",
        base_url=server.base_url,
        kinds=KINDS,
        per_chunk=dict.fromkeys(KINDS, 1),
        judge="heuristic",
        limit_chunks=chunks,
        concurrency=concurrency,
    )
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(template, Path(tmp) / "ws")
        ws = Workspace.open(Path(tmp) / "ws")
        server.set("normal", latency=server.options["latency"])
        answered: list[float] = []  # when each request was answered (after its latency)

        def answer(messages: list[dict[str, str]]) -> str:
            answered.append(time.perf_counter())
            return default_answer(messages)

        server.answer = answer
        t0 = time.perf_counter()
        summary = generate(ws, settings, embedder=embedder)
        seconds = time.perf_counter() - t0
    # The server's busy window: first request in to last answer out (model loading excluded).
    window = max(answered) - (min(answered) - server.options["latency"])
    return {
        "concurrency": concurrency,
        "chunks": chunks,
        "requests": len(server.requests),
        "questions": summary["llm_questions"],
        "seconds": round(seconds, 2),
        "server_window_s": round(window, 2),
        "max_in_flight": server.max_in_flight,
    }


def main() -> None:
    from core.documents import list_chunks
    from core.generation.pipeline import chunk_embeddings
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    FakeOpenAI = repo_module("tests/fake_openai.py").FakeOpenAI

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=2.0, help="seconds per request")
    ap.add_argument("--concurrency", default="1,8,32,64", help="comma-separated settings")
    ap.add_argument("--waves", type=int, default=10, help="rounds of `concurrency` requests")
    ap.add_argument("--min-chunks", type=int, default=16, help="at least this many chunks")
    ap.add_argument(
        "--real-at", default="", help="comma-separated concurrencies also run with the real model"
    )
    args = ap.parse_args()

    ws = syllabus_workspace(RESULTS / "writer_ws")
    chunks = list_chunks(ws)
    embedder = load_sentence_model(DEFAULT_BASE_MODEL)
    chunk_embeddings(ws, chunks, embedder, DEFAULT_BASE_MODEL)  # cached: not part of the timing
    rows = []
    plan = [(int(x), "stand-in") for x in args.concurrency.split(",")]
    plan += [(int(x), "base model") for x in args.real_at.split(",") if x]
    with FakeOpenAI(latency=args.latency) as server:
        for c, which in plan:
            n = min(len(chunks), max(args.min_chunks, args.waves * c // len(KINDS)))
            row = run_one(
                ws.root, server, embedder if which == "base model" else HashEmbedder(), c, n
            )
            row["embedder"] = which
            row["questions_per_s"] = round(row["questions"] / row["seconds"], 2)
            row["requests_per_s"] = round(row["requests"] / row["server_window_s"], 2)
            row["ideal_per_s"] = round(c / args.latency, 2)
            row["ratio"] = round(row["requests_per_s"] / row["ideal_per_s"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\nlatency {args.latency} s per request, {len(chunks)} chunks in the workspace")
    print(
        "| concurrency | embedder | chunks | run s | questions/s (run) | server busy s | requests/s "
        "(busy) | ideal req/s | ratio | max in flight |"
    )
    print("|" + "---|" * 10)
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['embedder']} | {r['chunks']} | {r['seconds']} | {r['questions_per_s']} | "
            f"{r['server_window_s']} | {r['requests_per_s']} | {r['ideal_per_s']} | "
            f"{r['ratio']} | {r['max_in_flight']} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"latency_s": args.latency, "rows": rows}
    (RESULTS / "writer_concurrency.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
