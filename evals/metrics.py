"""Ranking metrics over the rank of the first relevant item (1-based; ``None`` when not retrieved)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = [
    "latency_percentiles",
    "mrr",
    "ndcg_at",
    "precision_recall",
    "recall_at",
    "summarize_ranks",
    "wilson_interval",
]


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of queries whose relevant item is in the top ``k``."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None], cutoff: int | None = None) -> float:
    """Mean reciprocal rank, counting ranks beyond ``cutoff`` as misses."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and (cutoff is None or r <= cutoff)) / len(ranks)


def ndcg_at(ranks: Sequence[int | None], k: int) -> float:
    """nDCG@k with one relevant item per query (ideal DCG is 1)."""
    if not ranks:
        return 0.0
    return sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k) / len(ranks)


def summarize_ranks(ranks: Sequence[int | None]) -> dict[str, float]:
    """The standard table row: R@1, R@5, R@10, MRR and nDCG@10."""
    return {
        "r@1": round(recall_at(ranks, 1), 4),
        "r@5": round(recall_at(ranks, 5), 4),
        "r@10": round(recall_at(ranks, 10), 4),
        "mrr": round(mrr(ranks), 4),
        "ndcg@10": round(ndcg_at(ranks, 10), 4),
        "n": len(ranks),
    }


def latency_percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds of durations given in seconds (nearest-rank p95)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(p95 * 1000, 3),
        "n": len(ordered),
    }


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); ``(0, 1)`` when ``n`` is 0.

    Unlike the normal approximation it stays inside [0, 1] and behaves at small ``n`` and at 0 or
    100%, which is where smoke runs and per-data-set slices live.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def precision_recall(predicted: set[str], truth: set[str]) -> tuple[float | None, float | None]:
    """Precision and recall of one prediction set; ``None`` where the denominator is empty."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else None
    recall = hits / len(truth) if truth else None
    return precision, recall
