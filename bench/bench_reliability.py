"""Serving soak (issue 9, case 6): N requests from C concurrent clients against a real
`embstudio serve` process on 127.0.0.1, with the server's memory sampled as it goes.

    python bench/bench_reliability.py [--requests 1000] [--clients 8] [--model DIR]

DIR is any folder `embstudio serve` takes (an export's onnx/ or a model folder; default the
packaged base model). Each request embeds 1-8 short texts; one request in ten is a bad one
(wrong type, unknown model, missing key) that must get a 4xx and leave the service up.
Prints and writes bench/results/reliability_soak.json: errors (anything other than the
expected status), latency p50/p95 (ms), throughput, and the server's RSS (MB) after warm-up
and at the end; "memory flat" means growth after warm-up under 10 % (and under 64 MB).
The slow suite (`pytest -m slow tests/reliability`) covers the killed training worker,
resume, a full disk and a short soak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
from common import REPO, RESULTS, rss_mb

KEY = "bench-soak-key"
CLI = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model_dir: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "EMBSTUDIO_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", model_dir, "--port", str(port), "--model-name", "m"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            r = httpx.get(
                f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {KEY}"}
            )
            if r.status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not come up in 180 s")


def make_request(rng: random.Random) -> tuple[dict, dict, int]:
    """(json body, headers, expected status); one in ten is a bad request."""
    auth = {"Authorization": f"Bearer {KEY}"}
    n = rng.randint(1, 8)
    good = {"model": "m", "input": [f"passage {rng.random():.6f} about item {i}" for i in range(n)]}
    roll = rng.random()
    if roll < 0.04:
        return {"model": "m", "input": [1, 2]}, auth, 400
    if roll < 0.07:
        return {"model": "other", "input": "x"}, auth, 404
    if roll < 0.10:
        return good, {}, 401
    return good, auth, 200


def soak(port: int, pid: int, requests: int, clients: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    rss: list[tuple[int, float]] = []
    counter = [0]
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            while True:
                with lock:
                    if counter[0] >= requests:
                        return
                    counter[0] += 1
                    i = counter[0]
                body, headers, expected = make_request(rng)
                t0 = time.perf_counter()
                try:
                    r = c.post("/v1/embeddings", json=body, headers=headers)
                    status = r.status_code
                    ok = status == expected and (status != 200 or len(r.json()["data"]) > 0)
                    if status >= 400 and "error" not in r.json():
                        ok = False
                except (httpx.HTTPError, ValueError) as exc:
                    status, ok = -1, False
                    body = {"exception": repr(exc)}
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors.append(f"request {i}: got {status}, expected {expected}")
                    if i % 50 == 0:
                        rss.append((i, rss_mb(pid)))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(s,)) for s in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    rss.sort()
    warm = next((m for i, m in rss if i >= max(100, requests // 10)), rss[0][1] if rss else 0)
    end = rss_mb(pid)
    growth = end - warm
    q = statistics.quantiles(latencies, n=20)
    return {
        "requests": requests,
        "clients": clients,
        "errors": len(errors),
        "error_examples": errors[:5],
        "seconds": round(wall, 1),
        "requests_per_s": round(requests / wall, 1),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p95": round(q[18], 1),
        "rss_mb_after_warmup": round(warm, 1),
        "rss_mb_end": round(end, 1),
        "rss_growth_mb": round(growth, 1),
        "memory_flat": growth < max(0.1 * warm, 1.0) and growth < 64,
        "rss_samples": [(i, round(m, 1)) for i, m in rss],
    }


def main() -> int:
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--model", default=None, help="folder to serve (default: base model)")
    args = parser.parse_args()
    model_dir = args.model or resolve_model(DEFAULT_BASE_MODEL)
    port = free_port()
    proc = start_server(model_dir, port)
    try:
        result = soak(port, proc.pid, args.requests, args.clients)
        result["server_alive"] = proc.poll() is None
        result["model"] = str(model_dir)
    finally:
        proc.terminate()
        proc.wait(30)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability_soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=2))
    return 0 if result["errors"] == 0 and result["memory_flat"] and result["server_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
