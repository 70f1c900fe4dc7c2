"""Prometheus metrics of one app: requests, latencies, answers by mode, guard failures, LLM latency.

Each app has its own registry, so several apps in one process (tests) do not collide. Under
``cra serve --workers N`` every worker writes its numbers to ``PROMETHEUS_MULTIPROC_DIR`` (set by
the command) and ``/metrics`` of any worker answers for all of them, summed. Replicas on other
hosts are separate scrape targets: Prometheus scrapes each pod and sums across them. Labels are
route templates, never raw paths or ids.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

__all__ = ["MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The service's counters and histograms, and the text a scrape reads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cra_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "cra_http_request_seconds", "Request latency", ["route"], buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "cra_http_in_flight", "Requests being served", registry=self.registry, multiprocess_mode="livesum"
        )
        self.answers = Counter("cra_answers_total", "Answers by mode", ["mode"], registry=self.registry)
        self.guard_failures = Counter(
            "cra_guard_failures_total", "Failed guard checks", ["check"], registry=self.registry
        )
        self.llm_latency = Histogram(
            "cra_llm_seconds", "LLM reasoning time per answer (reason + repair)", buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.denied = Counter(
            "cra_auth_denied_total", "Requests refused by auth", ["reason"], registry=self.registry
        )

    def observe_answer(self, answer: dict[str, Any]) -> None:
        """Count one answer's mode and failed checks, and its LLM time when a model was asked."""
        self.answers.labels(answer.get("mode", "unknown")).inc()
        for check in answer.get("guard", {}).get("checks", []):
            if not check.get("passed", True):
                self.guard_failures.labels(check.get("name", "unknown")).inc()
        timings = answer.get("timings_ms", {})
        llm_ms = sum(float(timings.get(k, 0)) for k in ("reason", "repair"))
        if "reason" in timings:
            self.llm_latency.observe(llm_ms / 1000)

    def render(self) -> bytes:
        """The scrape text: this process's registry, or every worker's when they share a folder."""
        if os.environ.get(MULTIPROC_ENV):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)

    def close(self) -> None:
        """A worker that stops drops out of the live gauges (``in_flight``)."""
        if os.environ.get(MULTIPROC_ENV):
            multiprocess.mark_process_dead(os.getpid())
