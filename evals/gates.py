"""Regression gates: the thresholds in the one versioned file ``evals/gates.json``.

Layout: ``{suite: {config: {metric: threshold}}}``. A bare number is a floor (the metric must be at
least that); ``{"max": x}`` is a ceiling (latencies), ``{"min": x}`` a floor written out.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["check_gates", "load_gates"]


def load_gates() -> dict[str, Any]:
    """The parsed gates file."""
    return dict(json.loads((files("evals") / "gates.json").read_text(encoding="utf-8")))


def _limits(threshold: Any) -> tuple[float | None, float | None]:
    if isinstance(threshold, dict):
        return threshold.get("min"), threshold.get("max")
    return float(threshold), None


def check_gates(suite: str, summary: list[dict[str, Any]]) -> list[str]:
    """Failures of ``summary`` (rows with a ``config`` key) against the suite's gates; a missing
    configuration or metric fails its gate."""
    gates = load_gates().get(suite, {})
    by_config = {row["config"]: row for row in summary}
    failures = []
    for config, metrics in gates.items():
        if config.startswith("_"):
            continue
        for metric, threshold in metrics.items():
            value = by_config.get(config, {}).get(metric)
            low, high = _limits(threshold)
            if value is None:
                failures.append(f"{suite} {config} {metric} = None (missing) against gate {threshold}")
            elif low is not None and value < low:
                failures.append(f"{suite} {config} {metric} = {value} < gate {low}")
            elif high is not None and value > high:
                failures.append(f"{suite} {config} {metric} = {value} > gate {high}")
    return failures
