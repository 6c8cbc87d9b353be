"""Paired significance of a per-query metric difference (model B minus model A).

p-value: a two-sided paired permutation (sign-flip randomisation) test over queries: under the
null hypothesis the two models are exchangeable per query, so each per-query difference keeps
or flips its sign with probability 1/2. Confidence interval: percentile bootstrap of the mean
difference, resampling queries with replacement. Both use a fixed seed, so reruns agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Significance:
    """mean_a/mean_b: the metric's means; diff = mean_b - mean_a; [ci_low, ci_high] the
    bootstrap confidence interval of diff at `confidence`; p_value two-sided."""

    metric: str
    n_queries: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    resamples: int
    seed: int
    method: str = "paired permutation (p) + bootstrap (CI) over queries"

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.confidence

    def sentence(self, label_a: str = "A", label_b: str = "B") -> str:
        """One line for the page and report."""
        verdict = "significant" if self.significant else "not significant"
        return (
            f"{self.metric}: {label_b} {self.mean_b:.4f} vs {label_a} {self.mean_a:.4f}, "
            f"difference {self.diff:+.4f} ({self.confidence:.0%} CI {self.ci_low:+.4f} to "
            f"{self.ci_high:+.4f}), p = {self.p_value:.4f} over {self.n_queries} queries "
            f"({verdict} at {1 - self.confidence:.2f})"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_test(
    a: Mapping[str, float],
    b: Mapping[str, float],
    metric: str = "nDCG@10",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> Significance:
    """Compare per-query values of two models on the queries both were scored on."""
    queries = sorted(set(a) & set(b))
    if not queries:
        raise ValueError("no common queries to compare")
    va = np.array([a[q] for q in queries], dtype=np.float64)
    vb = np.array([b[q] for q in queries], dtype=np.float64)
    d = vb - va
    n = len(d)
    observed = float(d.mean())
    rng = np.random.default_rng(seed)
    # Permutation null: random sign per query, in batches to bound memory.
    extreme = 0
    done = 0
    batch = 1_000
    while done < resamples:
        m = min(batch, resamples - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        null = (signs * d).mean(axis=1)
        extreme += int(np.sum(np.abs(null) >= abs(observed) - 1e-12))
        done += m
    p_value = (extreme + 1) / (resamples + 1)
    # Bootstrap CI of the mean difference.
    means = np.empty(resamples)
    for start in range(0, resamples, batch):
        m = min(batch, resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        means[start : start + m] = d[idx].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Significance(
        metric=metric,
        n_queries=n,
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        diff=observed,
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        p_value=float(min(1.0, p_value)),
        resamples=resamples,
        seed=seed,
    )
