from __future__ import annotations

import math

import pytest

from evals.metrics import mrr, ndcg_at, recall_at, summarize_ranks


def test_recall_mrr_ndcg_on_known_ranks() -> None:
    ranks = [1, 2, None, 10, 11]
    assert recall_at(ranks, 1) == pytest.approx(0.2)
    assert recall_at(ranks, 10) == pytest.approx(0.6)
    assert mrr(ranks) == pytest.approx((1 + 0.5 + 0.1 + 1 / 11) / 5)
    assert mrr(ranks, cutoff=10) == pytest.approx((1 + 0.5 + 0.1) / 5)
    assert ndcg_at(ranks, 10) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(11)) / 5)


def test_empty_and_summary() -> None:
    assert recall_at([], 5) == 0.0 and mrr([]) == 0.0 and ndcg_at([], 10) == 0.0
    row = summarize_ranks([1, 1, 3])
    assert row["r@1"] == pytest.approx(0.6667, abs=1e-4) and row["n"] == 3 and row["r@5"] == 1.0


def test_latency_percentiles_in_milliseconds() -> None:
    from evals.metrics import latency_percentiles

    row = latency_percentiles([0.001 * i for i in range(1, 101)])  # 1..100 ms
    assert row["n"] == 100 and row["p50_ms"] == pytest.approx(50.5) and row["p95_ms"] == pytest.approx(95.0)
    assert latency_percentiles([0.002])["p95_ms"] == pytest.approx(2.0)
