"""What the computed assessments add to an evidence-mode answer: the same questions, assessments off and on.

The questions are ``bench_agent``'s (guideline questions, then patient questions cycling the
indexed patients). Each is asked twice in one process, once with the assessments and the direct
record answers switched off and once on, in alternating order, so both arms see the same machine
load: on a shared machine absolute times move with the load, the difference between the arms does
not. Wall time and process CPU time per ask are recorded. Writes ``bench_assessments.json`` and
``bench_assessments.md``.

Run: ``python -m evals.bench_assessments --data-dir DIR`` (an index built already, e.g. by ``make demo``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

import agent.nodes.retrieval as nodes
from agent.factory import make_agent
from agent.runner import Agent
from agent.settings import AgentSettings
from evals.bench_agent import _questions
from evals.report import environment, markdown_table
from service.deps import Deps

__all__ = ["main"]

_WARM = 10


@contextmanager
def _assessments(on: bool) -> Iterator[None]:
    """Switch the plan's assessments, dose checks and direct record answers off (``on=False``) for one ask."""
    saved = (nodes.assessments_for, nodes.record_answer, nodes.dose_checks)
    if not on:
        nodes.assessments_for = lambda question, known=None: []
        nodes.record_answer = lambda question, events, as_of: None
        nodes.dose_checks = lambda question, events=(), **kw: []
    try:
        yield
    finally:
        nodes.assessments_for, nodes.record_answer, nodes.dose_checks = saved


def _ask(agent: Agent, question: str, patient_id: str | None, on: bool) -> dict[str, Any]:
    with _assessments(on):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = agent.ask(question, patient_id=patient_id)
        return {
            "patient": patient_id is not None,
            "wall_ms": (time.perf_counter() - wall) * 1000,
            "cpu_ms": (time.process_time() - cpu) * 1000,
            "assessments": len(answer.get("assessments", [])),
        }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))], 1) if ordered else 0.0


def _rows(samples: dict[bool, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    picks: dict[str, Callable[[dict[str, Any]], bool]] = {
        "all": lambda r: True,
        "patient": lambda r: r["patient"],
    }
    out = []
    for on, rows in samples.items():
        for name, keep in picks.items():
            sel = [r for r in rows if keep(r)]
            out.append(
                {
                    "arm": f"assessments {'on' if on else 'off'}",
                    "questions": name,
                    "n": len(sel),
                    "wall p50 ms": _pct([r["wall_ms"] for r in sel], 0.5),
                    "wall p95 ms": _pct([r["wall_ms"] for r in sel], 0.95),
                    "cpu p50 ms": _pct([r["cpu_ms"] for r in sel], 0.5),
                    "with assessments": sum(1 for r in sel if r["assessments"]),
                }
            )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="An index built already.")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--guideline-questions", type=int, default=60)
    parser.add_argument("--patient-questions", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    settings = AgentSettings(data_dir=args.data_dir, llm_base_url="")
    deps = Deps(settings)
    try:
        questions = _questions(deps, args.guideline_questions, args.patient_questions)
        agent = make_agent(settings, guidelines=deps.guideline_search, patients=deps.patient_search,
                           encoder=deps.dense, llm=None)  # fmt: skip
        for n, (q, pid) in enumerate(questions[:_WARM] * 2):
            _ask(agent, q, pid, on=n % 2 == 0)
        samples: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for r in range(args.rounds):
            for n, (q, pid) in enumerate(questions):
                for on in (True, False) if (n + r) % 2 == 0 else (False, True):
                    samples[on].append(_ask(agent, q, pid, on))
    finally:
        deps.close()
    rows = _rows(samples)
    load = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_assessments.json").write_text(
        json.dumps({"environment": environment(), "load_1min_end": load, "rows": rows}, indent=2) + "\n"
    )
    md = "\n".join(
        [
            "# Evidence-mode answers with and without the computed assessments (bench_assessments)",
            "",
            "Goal: evidence mode end to end p50 <= 150 ms warm (bench_agent's goal) with the assessments on.",
            "",
            markdown_table(rows, list(rows[0])),
            "",
            f"Load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores. Both arms ran interleaved "
            "in one process, so they saw the same load; compare the arms, not runs made at other times.",
        ]
    )
    (args.out / "bench_assessments.md").write_text(md + "\n")
    Console(soft_wrap=True, highlight=False, markup=False).print(md)


if __name__ == "__main__":
    main()
