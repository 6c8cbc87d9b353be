"""Parity of an ONNX export with the PyTorch model it came from: cosine per text.

Texts are the workspace's own chunks (a fixed-seed sample, so reruns compare alike), plus a few
of its curated queries for short inputs; an empty workspace falls back to paragraphs of the
bundled sample documents. Both sides embed the same texts with the same truncation; the export
fails when the mean cosine is below the threshold for its precision.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.store import Workspace

# Mean cosine (PyTorch vs export) an export must reach, per precision.
THRESHOLDS = {"fp32": 0.999, "int8": 0.99}
DEFAULT_N_TEXTS = 64
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
_FALLBACK = [
    "What does the borrow checker prevent?",
    "How do I run only the ignored tests?",
    "Reference counting lets one value have several owners.",
]


class ParityError(RuntimeError):
    """The export's embeddings differ from the PyTorch model's beyond the threshold."""


@dataclass
class ParityResult:
    """precision: fp32|int8; n: texts compared; mean/min/p05: cosine statistics;
    threshold: required mean; passed: mean >= threshold; texts_per_s: the export's throughput
    on these texts (one pass, indicative only)."""

    precision: str
    n: int
    mean: float
    min: float
    p05: float
    threshold: float
    passed: bool
    texts_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_texts(ws: Workspace | None, n: int = DEFAULT_N_TEXTS, seed: int = 0) -> list[str]:
    """Up to `n` real texts: workspace chunks (~7/8) and queries (~1/8), else bundled samples."""
    texts: list[str] = []
    if ws is not None:
        with ws.connect() as conn:
            chunks = [r[0] for r in conn.execute("SELECT text FROM chunks ORDER BY id")]
            queries = [
                r[0]
                for r in conn.execute(
                    "SELECT query FROM pairs WHERE status IN ('accepted','edited') ORDER BY id"
                )
            ]
        rng = random.Random(seed)
        n_queries = min(len(queries), n // 8)
        texts = rng.sample(queries, n_queries)
        texts += rng.sample(chunks, min(len(chunks), n - n_queries))
    if len(texts) < n:
        texts += bundled_texts()[: n - len(texts)]
    return [t for t in texts if t.strip()][:n]


def bundled_texts() -> list[str]:
    """Paragraphs of the sample documents shipped in assets/samples (and three questions)."""
    out = list(_FALLBACK)
    for path in sorted(SAMPLES_DIR.glob("*.md")):
        if path.name == "SOURCES.md":
            continue
        for para in path.read_text(encoding="utf-8").split("\n\n"):
            para = para.strip()
            if len(para.split()) >= 5 and not para.startswith("```"):
                out.append(para)
    return out


def cosine_per_text(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, dim) arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def compare(reference: np.ndarray, candidate: np.ndarray, precision: str) -> ParityResult:
    """Cosine statistics of `candidate` against `reference` embeddings of the same texts."""
    if reference.shape != candidate.shape:
        raise ParityError(
            f"{precision}: shape {candidate.shape} differs from the PyTorch model's {reference.shape}"
        )
    cos = cosine_per_text(reference.astype(np.float64), candidate.astype(np.float64))
    cos = np.nan_to_num(cos, nan=-1.0)  # a NaN embedding counts as fully wrong
    threshold = THRESHOLDS[precision]
    mean = float(cos.mean())
    return ParityResult(
        precision=precision,
        n=len(cos),
        mean=mean,
        min=float(cos.min()),
        p05=float(np.percentile(cos, 5)),
        threshold=threshold,
        passed=mean >= threshold,
    )


def check_parity(
    reference: np.ndarray, export_dir: str | Path, texts: list[str], raise_on_fail: bool = True
) -> ParityResult:
    """Embed `texts` with the export in `export_dir` and compare with `reference` (the PyTorch
    model's normalised embeddings of the same texts). Raises ParityError below the threshold."""
    from core.export.runtime import OnnxEmbedder

    embedder = OnnxEmbedder(export_dir)
    embedder.embed(texts[:2])  # warm-up: the first run allocates and optimises
    t0 = time.perf_counter()
    vecs = embedder.embed(texts)
    elapsed = time.perf_counter() - t0
    precision = embedder.manifest.precision
    result = compare(reference, vecs, precision)
    result.texts_per_s = len(texts) / elapsed if elapsed > 0 else 0.0
    if raise_on_fail and not result.passed:
        raise ParityError(
            f"{precision} export fails the parity check: mean cosine {result.mean:.5f} < "
            f"{result.threshold} over {result.n} texts (min {result.min:.4f})"
        )
    return result
