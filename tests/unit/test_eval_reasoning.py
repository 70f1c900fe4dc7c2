"""The reasoning suite's independent truth and its answer-level checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.reasoning_truth import ckd_epi_2021, load_patient, pce_risk, truth
from evals.suite_reasoning import score_answer, split_of


def test_ckd_epi_2021_matches_published_calculator_values() -> None:
    assert ckd_epi_2021(1.0, 50, "female") == pytest.approx(69, abs=1)
    assert ckd_epi_2021(1.2, 60, "male") == pytest.approx(69, abs=1)
    assert ckd_epi_2021(4.5, 67, "male") < 15


def test_pooled_cohort_equations_match_the_guideline_example() -> None:
    # Goff et al. 2013, worked example: 55 years, TC 213, HDL 50, SBP 120 untreated, non-smoker, no diabetes
    assert pce_risk(55, "female", 213, 50, 120, False, False, False) == pytest.approx(2.1, abs=0.1)
    assert pce_risk(55, "male", 213, 50, 120, False, False, False) == pytest.approx(5.3, abs=0.1)
    assert pce_risk(55, "female", 213, 50, 120, False, False, False, "black") == pytest.approx(3.0, abs=0.1)
    assert pce_risk(55, "male", 213, 50, 120, False, False, False, "black") == pytest.approx(6.1, abs=0.1)


def test_truth_reads_a_real_bundle(shared_data: Path) -> None:
    path = shared_data / "synthea-r4" / "Annetta_Hoppe_0dd77edd-bffd-4258-ac40-c07af6dd734a.json"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    raw = load_patient(path)
    assert raw is not None and raw.sex == "female"
    day = raw.last_day()
    assert day is not None
    facts = truth(raw, day)
    assert facts["statin"]["verdict"] in {"high-intensity", "moderate-intensity", "consider", "not indicated",
                                          "insufficient data"}  # fmt: skip
    assert split_of(raw.patient_id) in ("dev", "test")


def _result(first: str) -> dict[str, object]:
    return {
        "answer": f"{first}\n\n**Evidence summary.** Quote [G1].",
        "evidence": [{"id": "A1"}, {"id": "P1"}, {"id": "G1"}],
        "citations": [{"id": "A1", "kind": "assessment", "cites": ["P1", "G1"]}],
        "assessments": [{"id": "statin", "verdict": "high-intensity", "evidence_id": "A1"}],
        "guard": {"passed": True},
        "mode": "evidence",
    }


def test_an_answer_passes_when_its_first_sentence_states_the_verdict_with_resolving_markers() -> None:
    good = score_answer(_result("High-intensity statin indicated: clinical ASCVD [A1][P1][G1]."), "statin",
                        {"verdict": "high-intensity"})  # fmt: skip
    assert good["first_sentence_verdict"] and good["markers_resolve"] and good["answer_correct"]
    wrong_truth = score_answer(
        _result("High-intensity statin indicated [A1]."), "statin", {"verdict": "consider"}
    )
    assert wrong_truth["first_sentence_verdict"] and not wrong_truth["answer_correct"]
    late = score_answer(_result("Some passage first [G1]."), "statin", {"verdict": "high-intensity"})
    assert not late["first_sentence_verdict"]
    dangling = score_answer(
        _result("High-intensity statin indicated [A1][P9]."), "statin", {"verdict": "high-intensity"}
    )
    assert not dangling["markers_resolve"]
