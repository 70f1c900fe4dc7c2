from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.gates import check_gates
from evals.report import write_index
from evals.runner import Case, CaseLog, config_hash, run_cases
from evals.suite import RunOptions, SuiteOutput, publish


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed process: not an ``Exception``, so the runner does not record it."""


def test_a_resumed_run_does_not_redo_finished_cases(tmp_path: Path) -> None:
    cases = [Case(f"c{i}", {"x": i}) for i in range(6)]
    calls: list[str] = []
    interrupt = {"at": "c3"}

    def score(case: Case) -> dict[str, Any]:
        calls.append(case.id)
        if case.id == interrupt.get("at"):
            interrupt.clear()
            raise Interrupted  # the run is interrupted in the middle of c3
        return {"outputs": {"y": case.inputs["x"] * 2}, "scores": {"ok": True}}

    log = CaseLog(tmp_path / "cases.jsonl", config_hash({"model": "m"}))
    with pytest.raises(Interrupted):
        run_cases(cases, score, log)
    assert set(log.done()) == {"c0", "c1", "c2"}
    calls.clear()
    records = run_cases(cases, score, log)
    assert calls == ["c3", "c4", "c5"]  # only what was not finished
    assert [r["id"] for r in records] == [c.id for c in cases]
    assert [r["outputs"]["y"] for r in records] == [0, 2, 4, 6, 8, 10]
    # Other settings hash: nothing is reused.
    other = CaseLog(tmp_path / "cases.jsonl", config_hash({"model": "other"}))
    calls.clear()
    run_cases(cases, score, other)
    assert len(calls) == 6


def test_a_failing_case_is_recorded_not_raised_and_torn_lines_are_ignored(tmp_path: Path) -> None:
    log = CaseLog(tmp_path / "cases.jsonl", "h")

    def score(case: Case) -> dict[str, Any]:
        if case.id == "bad":
            raise ValueError("boom")
        return {"outputs": {}, "scores": {}}

    records = run_cases([Case("ok"), Case("bad")], score, log, workers=2)
    assert records[1]["error"] == "ValueError: boom"
    with (tmp_path / "cases.jsonl").open("a") as fh:
        fh.write('{"id": "torn", "config_ha')  # a write cut short
    assert set(log.done()) == {"ok"}  # the failed case is tried again on resume


def test_config_hash_is_stable_and_order_free() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_gates_floor_and_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.gates as gates

    monkeypatch.setattr(
        gates, "load_gates", lambda: {"s": {"x": {"acc": 0.5, "p95_ms": {"max": 100}}, "_note": {}}}
    )
    assert check_gates("s", [{"config": "x", "acc": 0.6, "p95_ms": 50}]) == []
    fails = check_gates("s", [{"config": "x", "acc": 0.4, "p95_ms": 150}])
    assert len(fails) == 2 and "acc = 0.4 < gate 0.5" in fails[0] and "p95_ms = 150 > gate 100" in fails[1]
    assert "missing" in check_gates("s", [{"config": "x", "acc": 0.6}])[0]


def test_every_shipped_gate_names_a_known_suite() -> None:
    from evals.gates import load_gates

    suites = {
        "retrieval-pubmedqa",
        "guideline-retrieval",
        "uspstf-eligibility",
        "faithfulness",
        "latency",
        "mirage",
        "safety",
        "reasoning",
    }
    assert set(k for k in load_gates() if not k.startswith("_") and k != "version") <= suites


def test_publish_writes_results_report_and_index(tmp_path: Path) -> None:
    out = SuiteOutput(
        "demo",
        [{"config": "a", "acc": 0.5, "n": 2}],
        [{"id": "c1", "inputs": {}, "outputs": {}, "scores": {"acc": 1}}],
        {"seed": 1},
        {"text": "acc 0.5", "command": "cra eval demo"},
        ["## Body\n", "text"],
        config_hash="abc",
    )
    assert publish(out, RunOptions(out=tmp_path), gate=False) == []
    result = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert result["settings"] == {"seed": 1} and result["config_hash"] == "abc"
    assert result["environment"]["packages"]["clinical-reasoning-agent"]
    assert result["cases"][0]["id"] == "c1" and result["gate_failures"] is None
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "**Headline:** acc 0.5" in report and "## Body" in report
    index = write_index(tmp_path).read_text()
    assert "[demo](demo/report.md)" in index and "not run" in index
    assert "demo/report.md" in (tmp_path / "index.html").read_text()
