"""Guard overhead per answer: input and output guards (guardrails-ai, Presidio, MiniLM) p50/p95.

``python -m evals.bench_guards --out reports/bench`` builds the red team's store, asks the benign
questions (evidence answers and scripted faithful model answers) once to warm up, then again while
timing the graph's ``guard_input`` and ``guard_output`` nodes; writes bench_guards.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from evals.report import environment, markdown_table

__all__ = ["main", "percentiles"]

log = logging.getLogger(__name__)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p95 (nearest rank) in ms."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2), "n": len(ordered)}


def run(out: Path, synthea: Path) -> dict[str, Any]:
    from agent.factory import make_agent
    from agent.safety import safety_guards
    from agent.settings import AgentSettings
    from evals.safety.model import ScriptedModel
    from evals.safety.run import _patient, _values, load_cases
    from evals.safety.world import build_world
    from retrieval.embedders import Bm25SparseEncoder, make_dense_encoder
    from retrieval.settings import Settings

    dense, sparse = make_dense_encoder(Settings()), Bm25SparseEncoder()
    with tempfile.TemporaryDirectory(prefix="cra-bench-guards-") as tmp:
        world = build_world(Path(tmp), synthea, dense, sparse)
        texts = lambda: (str(p.get("text", "")) for _, p in world.store.scroll("guidelines", fields=["text"]))  # noqa: E731
        guards = safety_guards(texts, encoder=dense)
        guards["output_guard"].warm_up()
        values = _values(world)
        cases = load_cases("benign")
        timings: dict[str, list[float]] = {"input": [], "output": [], "both": []}
        by_mode: dict[str, list[float]] = {}
        for rnd in range(2):
            for case in cases:
                model = ScriptedModel(case["reply"], values) if case.get("reply") else None
                agent = make_agent(AgentSettings(data_dir=Path(tmp)), guidelines=world.guidelines,
                                   patients=world.patients, encoder=dense, llm=model, **guards)  # fmt: skip
                answer = agent.ask(case["question"], patient_id=_patient(case, world))
                if rnd == 0:
                    continue
                t = answer["timings_ms"]
                i, o = t.get("guard_input", 0.0), t.get("guard_output", 0.0)
                timings["input"].append(i)
                timings["output"].append(o)
                timings["both"].append(i + o)
                by_mode.setdefault(answer["mode"], []).append(i + o)
        world.store.close()
    rows = [{"guard": k, **percentiles(v)} for k, v in timings.items()]
    rows += [{"guard": f"both ({mode} answers)", **percentiles(v)} for mode, v in sorted(by_mode.items())]
    result: dict[str, Any] = {"benchmark": "guards", "environment": environment(), "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_guards.json").write_text(json.dumps(result, indent=2))
    md = [
        "# Guard overhead per answer\n",
        "Input guard (guardrails-ai Guard: size, injection, scope, other patient, patient-id format) and output "
        "guard (guardrails-ai Guard of eight validators; Presidio + spaCy on model-written sentences; MiniLM "
        "support score when lexical support is partial), timed inside the graph over the benign red-team "
        f"questions (second pass, warm). Goal: p50 <= 30 ms. Run {result['environment']['when']}.\n",
        markdown_table(rows, ["guard", "p50", "p95", "n"]),
    ]
    (out / "bench_guards.md").write_text("\n".join(md))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--synthea", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shared = Path(os.environ.get("CRA_SHARED_DATA", Path.cwd().parent / "shared" / "data"))
    result = run(args.out, args.synthea or shared / "synthea-r4")
    for row in result["rows"]:
        print(f"{row['guard']:28} p50 {row['p50']:7.2f} ms  p95 {row['p95']:7.2f} ms  n={row['n']}")


if __name__ == "__main__":
    main()
