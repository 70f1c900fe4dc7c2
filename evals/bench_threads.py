"""What owning a thread costs a turn: the lease that serializes turns and the bound-patient read.

Per turn with a ``thread_id`` the service takes and gives back a lease in the shared state and
reads the thread's checkpoint once to decide its patient (``service.api.thread_access``). Both are
timed here on SQLite, as one ``cra serve`` uses them, beside the rate-limit bucket every request
already takes from the same file (the baseline of the ratio, measured in the same process).
Writes ``bench_threads.json`` and ``bench_threads.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from evals.metrics import latency_percentiles
from evals.report import environment, markdown_table

__all__ = ["main"]


def _timed(step: Callable[[int], Any], n: int) -> list[float]:
    """Seconds per call of ``step`` over ``n`` calls, after a warm-up."""
    for i in range(min(50, n)):  # warm-up: SQLite pages, LangGraph's serializer
        step(-1 - i)
    out = []
    for i in range(n):
        started = time.perf_counter()
        step(i)
        out.append(time.perf_counter() - started)
    return out


def run(n: int, turns: int) -> list[dict[str, Any]]:
    """Rows: the rate-limit baseline, the lease, the checkpoint read, and lease plus read."""
    from agent.checkpoints import open_checkpointer
    from agent.graph import build_graph
    from agent.settings import AgentSettings
    from service.shared_state import SqliteLeaseStore, SqliteRateStore

    with tempfile.TemporaryDirectory(prefix="cra-bench-threads-") as tmp:
        data = Path(tmp)
        rates, leases = SqliteRateStore(data / "state.sqlite"), SqliteLeaseStore(data / "state.sqlite")
        saver, close = open_checkpointer(AgentSettings(data_dir=data))
        graph = build_graph(saver)
        history = [{"question": "q" * 80, "answer": "a" * 1500, "mode": "evidence"}] * turns
        config = {"configurable": {"thread_id": "key:bench:thread"}}
        graph.update_state(config, {"patient_id": "p1", "history": history}, as_node="finish")

        def lease(i: int) -> None:
            now = time.time()
            key = f"thread-turn:key:bench:{i % 64}"
            assert leases.acquire(key, "holder", now + 600, now)
            leases.release(key, "holder")

        def read(_: int) -> None:
            graph.get_state(config)

        def both(i: int) -> None:
            lease(i)
            read(i)

        steps: dict[str, Callable[[int], Any]] = {
            "rate-limit bucket (baseline)": lambda _: rates.take("bench-key", 1e9, 1e9),
            "turn lease (acquire + release)": lease,
            f"bound-patient read ({turns}-turn thread)": read,
            "ownership per turn (lease + read)": both,
        }
        timings = {name: _timed(step, n) for name, step in steps.items()}
        close()
        rates.close()
        leases.close()
    base = latency_percentiles(timings["rate-limit bucket (baseline)"])["p50_ms"]
    rows = []
    for name, seconds in timings.items():
        pct = latency_percentiles(seconds)
        rows.append({"step": name, "n": n, "p50_ms": pct["p50_ms"], "p95_ms": pct["p95_ms"],
                     "ratio_to_baseline_p50": round(pct["p50_ms"] / base, 2) if base else None})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("-n", type=int, default=2000, help="timed repetitions per step")
    parser.add_argument("--turns", type=int, default=10, help="turns already in the thread that is read")
    args = parser.parse_args(argv)
    rows = run(args.n, args.turns)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"rows": rows, "environment": environment()}
    (args.out / "bench_threads.json").write_text(json.dumps(result, indent=2) + "\n")
    columns = ["step", "n", "p50_ms", "p95_ms", "ratio_to_baseline_p50"]
    body = f"# Thread ownership per turn\n\n{(__doc__ or '').strip()}\n\n{markdown_table(rows, columns)}\n"
    (args.out / "bench_threads.md").write_text(body)
    console = Console(highlight=False, markup=False)
    for r in rows:
        console.print(
            f"{r['step']:42} p50 {r['p50_ms']:.4f} ms  p95 {r['p95_ms']:.4f} ms  x{r['ratio_to_baseline_p50']}"
        )


if __name__ == "__main__":
    main()
