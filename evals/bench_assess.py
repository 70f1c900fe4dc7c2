"""``cra patient assess`` without the store: the summary and every assessment, per Synthea patient, warm.

The work after the patient's events are read (the summary, then every assessment) is timed over
the 31 shared Synthea records: each patient's time is the median of several warm runs, and the
table gives the median and p95 over patients. The baseline, measured in the same process, is the
summary alone (what ``cra patient summary`` computes), so the ratio says what the assessments
add on this machine whatever its load. The issue's budget is a p50 of 20 ms per patient for the
whole command; the store read comes on top (about 7-10 ms here). Writes ``bench_assess.json``
and ``bench_assess.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from evals.report import environment, markdown_table

__all__ = ["main"]


def _median_ms(step: Callable[[], Any], runs: int) -> float:
    step()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(synthea: Path, runs: int) -> list[dict[str, Any]]:
    """Rows: the summary alone (baseline) and summary plus assessments, over patients."""
    from assessments import assess
    from patient_index.events import events_from_bundle
    from patient_index.summary import build_summary

    summary_ms, assess_ms = [], []
    for path in sorted(synthea.glob("*.json")):
        events, _ = events_from_bundle(json.loads(path.read_text(encoding="utf-8")))
        summary_ms.append(_median_ms(lambda e=events: build_summary(e), runs))  # type: ignore[misc]
        assess_ms.append(_median_ms(lambda e=events: assess(e, summary=build_summary(e)), runs))  # type: ignore[misc]
    base = statistics.median(summary_ms)
    rows = []
    for name, values in (("summary (baseline)", summary_ms), ("summary + assess", assess_ms)):
        ordered = sorted(values)
        rows.append({
            "step": name, "patients": len(values), "p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
            "ratio_to_baseline_p50": round(statistics.median(ordered) / base, 2) if base else None,
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--synthea", type=Path, default=Path("../shared/data/synthea-r4"))
    parser.add_argument("--runs", type=int, default=5, help="warm runs per patient")
    args = parser.parse_args(argv)
    rows = run(args.synthea, args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_assess.json").write_text(
        json.dumps({"rows": rows, "environment": environment()}, indent=2) + "\n"
    )
    columns = ["step", "patients", "p50_ms", "p95_ms", "ratio_to_baseline_p50"]
    (args.out / "bench_assess.md").write_text(
        f"# cra patient assess, per patient\n\n{(__doc__ or '').strip()}\n\n{markdown_table(rows, columns)}\n"
    )
    console = Console(highlight=False, markup=False)
    for r in rows:
        console.print(
            f"{r['step']:20} p50 {r['p50_ms']:.2f} ms  p95 {r['p95_ms']:.2f} ms  x{r['ratio_to_baseline_p50']}"
        )


if __name__ == "__main__":
    main()
