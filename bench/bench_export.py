"""Export benchmark: PyTorch fp32 vs ONNX fp32 vs ONNX int8 on CPU, same texts, same model,
plus the OpenAI-compatible endpoint (one short input; batches of 32).

Backends are interleaved round by round (torch, fp32, int8, then rotated) so load from other
processes hits all of them alike; each figure is the median over rounds and each ratio the
median of the per-round ratios. Texts are real SciFact passages (truncated by the model to its
256 tokens). Writes bench/results/export.json.

    python bench/bench_export.py [--model DIR_OR_NAME] [--texts 128] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import RESULTS, offline_env
from common import SCIFACT as SCIFACT_DIR

offline_env()

SCIFACT = SCIFACT_DIR / "corpus.jsonl.gz"
SHORT = "What reduces the risk of antibiotic resistance in hospitals?"


def passages(n: int, path: Path = SCIFACT) -> list[str]:
    with gzip.open(path, "rt") as f:
        rows = (json.loads(line) for line in f)
        return [f"{r.get('title', '')}. {r['text']}" for r in itertools.islice(rows, n)]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_backends(embedders: dict, texts: list[str], rounds: int, batch: int, n_latency: int):
    names = list(embedders)
    for e in embedders.values():  # warm-up: allocation, graph optimisation, thread pools
        e.embed(texts[:batch], batch)
    tput: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            embedders[name].embed(texts, batch)
            tput[name].append(len(texts) / (time.perf_counter() - t0))
    lat: dict[str, list[float]] = {n: [] for n in names}
    for i in range(n_latency):
        text = texts[i % len(texts)]
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            embedders[name].embed([text], 1)
            lat[name].append((time.perf_counter() - t0) * 1000)
    out = {}
    for name in names:
        ratios = [a / b for a, b in zip(tput[name], tput["torch"], strict=True)]
        out[name] = {
            "texts_per_s": statistics.median(tput[name]),
            "vs_torch": statistics.median(ratios),
            "latency_ms_p50": pct(lat[name], 50),
            "latency_ms_p95": pct(lat[name], 95),
        }
    return out


def bench_endpoint(embedder, texts: list[str], n_short: int, n_batches: int) -> dict:
    import socket

    import openai
    import uvicorn

    from core.serve import ServeSettings, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Passages over 256 tokens are truncated (as for the other backends), not refused.
    settings = ServeSettings(max_batch=64, max_input_tokens=1 << 20)
    app = create_app(embedder, settings, api_key=None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    try:
        client.embeddings.create(model=embedder.name, input=SHORT)  # warm-up
        lat = []
        for _ in range(n_short):
            t0 = time.perf_counter()
            client.embeddings.create(model=embedder.name, input=SHORT)
            lat.append((time.perf_counter() - t0) * 1000)
        t0, n = time.perf_counter(), 0
        for i in range(n_batches):
            chunk = [texts[(i * 32 + j) % len(texts)] for j in range(32)]
            resp = client.embeddings.create(model=embedder.name, input=chunk)
            n += len(resp.data)
        tput = n / (time.perf_counter() - t0)
    finally:
        server.should_exit = True
        thread.join(10)
    return {
        "backend": embedder.backend,
        "short_latency_ms_p50": pct(lat, 50),
        "short_latency_ms_p95": pct(lat, 95),
        "batch32_texts_per_s": tput,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or name (default: MiniLM)")
    parser.add_argument("--texts", type=int, default=128, help="passages per throughput round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--latency-calls", type=int, default=30, help="single-text calls each")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every backend")
    parser.add_argument("--endpoint-calls", type=int, default=30)
    parser.add_argument("--corpus", type=Path, default=SCIFACT)
    parser.add_argument("--out", type=Path, default=RESULTS / "export.json")
    args = parser.parse_args()

    import torch

    from core.export.onnx_export import export_onnx
    from core.export.parity import cosine_per_text
    from core.export.quantize import quantize_int8
    from core.export.runtime import OnnxEmbedder, TorchEmbedder
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model or DEFAULT_BASE_MODEL)
    texts = passages(args.texts, args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        export_onnx(model_dir, Path(tmp) / "onnx")
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        quantize_int8(Path(tmp) / "onnx", Path(tmp) / "onnx-int8")
        quantize_s = time.perf_counter() - t0
        embedders = {
            "torch": TorchEmbedder(model_dir),
            "onnx-fp32": OnnxEmbedder(Path(tmp) / "onnx", threads=args.threads),
            "onnx-int8": OnnxEmbedder(Path(tmp) / "onnx-int8", threads=args.threads),
        }
        reference = embedders["torch"].embed(texts, args.batch)
        parity = {
            name: float(cosine_per_text(reference, e.embed(texts, args.batch)).mean())
            for name, e in embedders.items()
            if name != "torch"
        }
        backends = bench_backends(embedders, texts, args.rounds, args.batch, args.latency_calls)
        print(
            f"{'backend':<10} {'texts/s':>8} {'×torch':>7} {'p50 ms':>8} {'p95 ms':>8} {'cos':>7}"
        )
        for name, b in backends.items():
            print(
                f"{name:<10} {b['texts_per_s']:8.1f} {b['vs_torch']:7.2f} "
                f"{b['latency_ms_p50']:8.1f} {b['latency_ms_p95']:8.1f} {parity.get(name, 1.0):7.4f}",
                flush=True,
            )
        endpoint = bench_endpoint(
            embedders["onnx-int8"], texts, args.endpoint_calls, max(1, args.endpoint_calls // 3)
        )
    result = {
        "model": str(args.model or DEFAULT_BASE_MODEL),
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "texts": len(texts),
        "rounds": args.rounds,
        "batch": args.batch,
        "export_seconds": round(export_s, 1),
        "quantize_seconds": round(quantize_s, 1),
        "mean_cosine_vs_torch": parity,
        "backends": backends,
        "endpoint": endpoint,
        "targets": {
            "int8_speedup>=2.0": backends["onnx-int8"]["vs_torch"] >= 2.0,
            "int8_cosine>=0.99": parity["onnx-int8"] >= 0.99,
            "fp32_speedup>=1.0": backends["onnx-fp32"]["vs_torch"] >= 1.0,
        },
    }
    print(
        f"endpoint ({endpoint['backend']}): one short input p50 "
        f"{endpoint['short_latency_ms_p50']:.1f} ms, p95 {endpoint['short_latency_ms_p95']:.1f} ms;"
        f" batches of 32: {endpoint['batch32_texts_per_s']:.1f} texts/s"
    )
    print(f"targets: {result['targets']}  (load average {result['load_avg_1m']:.1f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
