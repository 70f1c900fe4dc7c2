"""``make bench``: what the agent costs around the LLM, per question, on the real store and models.

Builds an index in a temporary folder (the 43 open-medicine guidelines, the demo protocol and
the shared Synthea patients) unless ``--data-dir`` points at one, then asks guideline questions
and patient questions twice over:

* **evidence mode** (no LLM): the whole graph end to end, warm;
* **LLM mode with an instant stand-in model** (in-process, returns a fixed valid JSON answer at
  once): everything the agent does around generation (planning, retrieval, packing, prompting,
  parsing, guards, checkpointing), which is the agent's overhead when a real model is served.

Writes ``bench_agent.json`` and ``bench_agent.md``. Time to first token and tokens/s of the local
vLLM are in ``bench_llm`` (evals/bench_llm.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from agent.checkpoints import open_checkpointer
from agent.factory import make_agent
from agent.llm import TokenSink
from agent.runner import Agent
from agent.settings import AgentSettings
from agent.text import sentences
from evals.metrics import latency_percentiles
from evals.report import environment, markdown_table
from evals.suite_latency import NODES
from service.deps import Deps

__all__ = ["main"]

console = Console(soft_wrap=True, highlight=False, markup=False)
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PATIENT_QUESTIONS = (
    "How has her blood pressure changed over the last 2 years?",
    "Is kidney function declining, and does it change any medication doses?",
    "What is the latest LDL cholesterol and is a statin indicated?",
    "Are there early-warning flags I should act on today?",
    "Is glycemic control adequate given the recent HbA1c values?",
)


class InstantLLM:
    """A stand-in model that answers at once: the first sentence of the first evidence entry it was
    shown, quoted and cited (so the answer passes the checks, as a good model's would)."""

    model = "instant-stand-in"

    def generate(
        self, messages: Sequence[dict[str, str]], schema: dict[str, Any], *, on_token: TokenSink | None = None
    ) -> str:
        entry = re.search(r"^\[([GP]\d+)\] \([^)]*\) (.+)$", messages[-1]["content"], re.M)
        if entry is None:
            reply = {
                "answer": "The evidence does not cover this question.",
                "abstain": True,
                "abstain_reason": "none",
            }
        else:
            first = next((x for x in sentences(entry.group(2)) if len(x.split()) >= 6), entry.group(2))
            reply = {"answer": f"{first} [{entry.group(1)}]", "claims": [], "abstain": False}
        text = json.dumps(reply)
        if on_token is not None:
            on_token(text)
        return text


def _build(root: Path, deps: Deps) -> None:
    from guidelines_index.corpora import corpus_path
    from guidelines_index.indexer import GuidelineIndexer
    from patient_index.indexer import PatientIndexer

    console.print("indexing open-medicine + demo protocol ...")
    GuidelineIndexer(
        deps.store, deps.dense, deps.sparse, collection=deps.settings.guideline_collection
    ).index([str(corpus_path("open-medicine")), str(ROOT / "examples" / "guidelines")])
    fhir = root / "fhir"
    fhir.mkdir(exist_ok=True)
    for f in sorted((SHARED / "synthea-r4").glob("*.json")):
        shutil.copy(f, fhir / f.name)
    console.print("indexing patients ...")
    PatientIndexer(deps.store, deps.dense, deps.sparse, collection=deps.settings.patient_collection).index(
        [str(fhir)]
    )


def _questions(deps: Deps, n_guideline: int, n_patient: int) -> list[tuple[str, str | None]]:
    rows = [
        json.loads(x)
        for x in (ROOT / "evals" / "data" / "guideline_questions.jsonl").read_text().splitlines()
        if x
    ]
    patients = sorted(
        {
            p["patient_id"]
            for _, p in deps.store.scroll(deps.settings.patient_collection, None, fields=["patient_id"])
        }
    )
    qs: list[tuple[str, str | None]] = [(r["q"], None) for r in rows[:n_guideline]]
    for i in range(n_patient):
        qs.append(
            (PATIENT_QUESTIONS[i % len(PATIENT_QUESTIONS)], patients[i % len(patients)] if patients else None)
        )
    return qs


def _run(agent: Agent, questions: list[tuple[str, str | None]]) -> dict[str, Any]:
    totals: list[float] = []
    per_node: dict[str, list[float]] = {n: [] for n in NODES}
    modes: dict[str, int] = {}
    for q, pid in questions:
        start = time.perf_counter()
        answer = agent.ask(q, patient_id=pid)
        totals.append(time.perf_counter() - start)
        modes[answer["mode"]] = modes.get(answer["mode"], 0) + 1
        for node in NODES:
            if node in answer["timings_ms"]:
                per_node[node].append(answer["timings_ms"][node])
    return {
        "questions": len(questions),
        "total": latency_percentiles(totals),
        "per_node_p50_ms": {n: round(statistics.median(v), 2) for n, v in per_node.items() if v},
        "modes": modes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="An index built already (else a temp one)."
    )
    parser.add_argument("--guideline-questions", type=int, default=60)
    parser.add_argument("--patient-questions", type=int, default=40)
    args = parser.parse_args(argv)
    tmp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="cra-bench-agent-"))
    data_dir = Path(args.data_dir or tmp or ".")
    settings = AgentSettings(data_dir=data_dir, llm_base_url="")
    deps = Deps(settings)
    try:
        if tmp is not None:
            _build(tmp, deps)
        questions = _questions(deps, args.guideline_questions, args.patient_questions)
        saver, close = open_checkpointer(settings)
        evidence, instant = (
            make_agent(
                settings,
                guidelines=deps.guideline_search,
                patients=deps.patient_search,
                encoder=deps.dense,
                checkpointer=saver,
                llm=llm,
            )
            for llm in (None, InstantLLM())
        )
        console.print(f"warming up, then {len(questions)} questions in each mode ...")
        _run(evidence, questions[:5])
        _run(instant, questions[:5])
        results = {"evidence_mode": _run(evidence, questions), "llm_mode_overhead": _run(instant, questions)}
        close()
    finally:
        deps.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "environment": environment(),
        "goals": {"overhead_p50_ms": 100, "evidence_p50_ms": 150},
        **results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_agent.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [
        {
            "run": name,
            "questions": r["questions"],
            "p50 ms": r["total"]["p50_ms"],
            "p95 ms": r["total"]["p95_ms"],
            "modes": json.dumps(r["modes"]),
        }
        for name, r in results.items()
    ]
    nodes = [{"node": n, **{m: results[m]["per_node_p50_ms"].get(n, 0.0) for m in results}} for n in NODES]
    md = "\n".join(
        [
            "# Agent overhead (bench_agent)",
            "",
            "Goals: agent overhead excluding LLM generation p50 <= 100 ms; evidence mode end to end p50 <= 150 ms warm.",
            "",
            markdown_table(rows, ["run", "questions", "p50 ms", "p95 ms", "modes"]),
            "",
            "Per-node p50 (ms):",
            "",
            markdown_table(nodes, ["node", *results]),
            "",
            f"Load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
            "(the machine is shared; compare runs made under similar load).",
        ]
    )
    (args.out / "bench_agent.md").write_text(md + "\n")
    console.print(md)


if __name__ == "__main__":
    main()
