"""The eval scorers on real answers: the agent over the shared test world (real store, real MiniLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.faithfulness import score_answer
from evals.runner import Case, CaseLog, run_cases
from evals.suite_latency import summarize as latency_summary
from evals.suite_uspstf import QUESTION, surfaced_by_agent
from tests.agent_world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_faithfulness_scores_of_real_evidence_answers(world: World) -> None:
    agent = world.agent(threads=False)
    answered = agent.ask("Which statin and dose counts as high-intensity therapy?")
    s = score_answer(answered, answerable=True)
    assert s["citations"] >= 1 and s["citations_valid"] == s["citations"]
    assert s["clinical_sentences"] >= 1 and s["supported_sentences"] == s["clinical_sentences"]
    assert s["abstention_correct"]
    off = agent.ask(
        "What cumulative isotretinoin dose per kilogram should I aim for in severe nodulocystic acne?"
    )
    assert score_answer(off, answerable=False)["abstention_correct"], off["answer"]


def test_latency_and_resume_over_real_answers(world: World, tmp_path: Path) -> None:
    agent = world.agent(threads=False)
    pid = world.patient_ids[0]
    cases = [
        Case("evidence/a", {"mode": "evidence", "q": "What blood pressure target is recommended?"}),
        Case("evidence/b", {"mode": "evidence", "q": QUESTION, "patient_id": pid}),
    ]
    calls = []

    def score(case: Case) -> dict[str, object]:
        calls.append(case.id)
        result = agent.ask(case.inputs["q"], patient_id=case.inputs.get("patient_id"))
        return {"outputs": {"timings_ms": result["timings_ms"], "answer_mode": result["mode"]}, "scores": {}}

    log = CaseLog(tmp_path / "cases.jsonl", "h")
    records = run_cases(cases, score, log)
    assert run_cases(cases, score, log) == records and calls == ["evidence/a", "evidence/b"]
    summary, nodes = latency_summary(records, ["evidence"])
    assert summary[0]["n"] == 2 and summary[0]["total_p95_ms"] > 0
    assert {n["node"] for n in nodes} >= {"plan", "retrieve_guidelines", "reason", "total"}
    # The world holds no USPSTF records: nothing surfaced, and the scorer says so rather than failing.
    assert surfaced_by_agent(agent.ask(QUESTION, patient_id=pid)) == set()
