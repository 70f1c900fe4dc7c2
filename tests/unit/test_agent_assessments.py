"""Assessments in the agent: which ones a question needs, [A#] evidence, the opening sentences, the
contradiction guard, and direct record questions. Pure functions, no store."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from agent.assessing import AssessmentRecord, _record
from agent.evidence import assessment_items, citation_json, input_item, interleave, number_items, render_item
from agent.evidence_mode import EVIDENCE_LABEL, evidence_answer
from agent.facts import fact_items
from agent.guards import BasicOutputGuard
from agent.planner import assessments_for, make_plan
from agent.record_answers import record_answer
from agent.schema import markers_in
from agent.text import sentences
from agent.verdicts import contradictions
from assessments.model import Assessment, Input, Source

ALL = (
    "egfr_ckd_epi_2021",
    "ckd_stage",
    "albuminuria",
    "kfre",
    "ascvd_pce_10y",
    "prevent_10y",
    "bp_category",
    "glycemic_status",
    "statin",
    "ckd_referral",
    "bmi_class",
    "bp_treatment",
    "fib4",
    "cha2ds2_vasc",
    "news2",
)
CHOL = Source(
    "acc_aha_cholesterol_2018", "2018 Cholesterol Guideline", "Secondary prevention", "I", "clinical ASCVD"
)
KDIGO = Source("kdigo_ckd_2024", "KDIGO 2024 CKD", "Referral", "1A", "refer to specialist kidney care")


# -- the plan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "first", "included"),
    [
        ("Is a statin indicated given the latest LDL, and at what intensity?", "statin", {"ascvd_pce_10y"}),
        ("Any early-warning signs I should act on?", "egfr_ckd_epi_2021", {"ckd_referral", "kfre"}),
        ("How is his kidney function?", "egfr_ckd_epi_2021", {"ckd_stage", "albuminuria", "ckd_referral"}),
        ("Is her blood pressure controlled?", "bp_category", {"bp_treatment"}),
        ("Does he have diabetes?", "glycemic_status", set()),
        ("What is her 10-year cardiovascular risk?", "ascvd_pce_10y", {"prevent_10y", "statin"}),
    ],
)
def test_the_plan_picks_the_assessments_a_question_needs(
    question: str, first: str, included: set[str]
) -> None:
    chosen = assessments_for(question, ALL)
    assert chosen[0] == first and included <= set(chosen)
    assert len(chosen) == len(set(chosen))


def test_unrelated_questions_and_unknown_ids_get_no_assessments() -> None:
    assert assessments_for("What causes gout flares?", ALL) == []
    assert assessments_for("Is a statin indicated?", ("ckd_stage",)) == []  # statin not offered
    dose = assessments_for("Is atorvastatin 800 mg high-intensity?", (*ALL, "dose_check"))
    assert "dose_check" in dose and dose[0] == "statin"
    assert "dose_check" not in assessments_for("Is a statin indicated?", (*ALL, "dose_check"))


def test_the_plan_names_its_assessments_only_for_a_patient() -> None:
    summary = {"age": 67, "sex": "male", "as_of": "2024-01-01", "problems": [], "flags": []}
    with_patient = make_plan("Is a statin indicated?", summary=summary)
    assert any(w.startswith("assessments:") for w in with_patient["why"]) or with_patient["assessments"] == []
    assert make_plan("Is a statin indicated?")["assessments"] == []


# -- [A#] evidence -------------------------------------------------------------------------------------


def _statin(verdict: str = "high-intensity") -> Assessment:
    return Assessment(
        "statin",
        "Statin indication and intensity",
        verdict,
        f"{verdict.capitalize()} statin indicated: clinical ASCVD (ischemic heart disease since 2021-11-23).",
        CHOL,
        inputs=(
            Input("clinical ASCVD", "Ischemic heart disease", "", "2021-11-23", ("ev-ihd",)),
            Input("LDL cholesterol", 131.0, "mg/dL", "2023-05-01", ("ev-ldl",)),
        ),
    )


def _referral(verdict: str = "indicated") -> Assessment:
    return Assessment(
        "ckd_referral",
        "CKD referral",
        verdict,
        "Referral to specialist kidney care indicated: eGFR 12 mL/min/1.73m2 is below 30.",
        KDIGO,
        inputs=(Input("eGFR", 12.0, "mL/min/1.73m2", "2023-05-01", ("ev-egfr",)),),
    )


def _evidence(*assessed: Assessment) -> list[dict[str, Any]]:
    """Numbered evidence as build_evidence makes it: a guideline source, facts, input entries, [A#]."""
    records: list[AssessmentRecord] = [_record(a) for a in assessed]
    guides = [
        {"text": "Rule text.", "relevance": 0.3, "chunk_id": f"c-{a.source.doc_id}", "doc_id": a.source.doc_id,
         "source_of": [a.id], "covers": False}
        for a in assessed
    ]  # fmt: skip
    events = {
        eid: {"patient_id": "p1", "resource_type": "Observation", "resource_id": eid, "date": "2023-05-01",
              "text": f"entry {eid}"}
        for a in assessed
        for eid in a.event_ids
    }  # fmt: skip
    patient = [
        {"text": "Patient: 67-year-old male.", "relevance": 1.0, "computed": True, "patient_id": "p1",
         "event_ids": ["ev-patient"], "date": "2024-01-01"},
        *(input_item(eid, e) for eid, e in events.items()),
    ]  # fmt: skip
    items = number_items(guides, patient)
    return items + assessment_items(records, items)


def test_assessment_items_cite_their_inputs_and_their_guideline_source() -> None:
    evidence = _evidence(_statin(), _referral())
    by_id = {e["id"]: e for e in evidence}
    a1, a2 = by_id["A1"], by_id["A2"]
    assert a1["kind"] == "assessment" and a1["verdict"] == "high-intensity"
    assert [by_id[c]["event_ids"] for c in a1["inputs_cited"]] == [["ev-ihd"], ["ev-ldl"]]
    assert by_id[a1["source_id"]]["doc_id"] == "acc_aha_cholesterol_2018"
    assert by_id[a2["source_id"]]["doc_id"] == "kdigo_ckd_2024"
    assert all(c in by_id for a in (a1, a2) for c in a["cites"])
    assert (
        "[A1] (computed assessment: Statin indication and intensity; verdict high-intensity"
        in render_item(a1)
    )
    assert citation_json(a1)["verdict"] == "high-intensity" and citation_json(a1)["cites"] == a1["cites"]
    assert interleave(evidence)[0]["id"] == "A1"


# -- the opening sentences -------------------------------------------------------------------------------


def test_the_evidence_answer_opens_with_the_verdict_and_markers_that_resolve() -> None:
    evidence = _evidence(_statin())
    made = evidence_answer("Is a statin indicated?", evidence, patient_id="p1")
    first = sentences(made["answer"])[0]
    assert first.startswith("High-intensity statin indicated: clinical ASCVD")
    ids = {e["id"] for e in evidence}
    assert markers_in(first)[0] == "A1" and set(markers_in(first)) <= ids
    assert made["answer"].index(first) < made["answer"].index(EVIDENCE_LABEL)
    assert BasicOutputGuard()(made["answer"], [], evidence, "p1")["passed"]


def test_without_assessments_the_answer_still_starts_with_the_label() -> None:
    items = number_items([{"text": "Use statins.", "relevance": 0.9, "covers": True}], [])
    assert evidence_answer("statins?", items, patient_id=None)["answer"].startswith(EVIDENCE_LABEL)


def test_allergies_are_left_out_of_a_question_about_a_watched_series() -> None:
    summary = {"patient_id": "p1", "age": 67, "sex": "male", "as_of": "2024-01-01",
               "allergies": [{"display": "Peanut allergy", "cite": ["ev-a"]}]}  # fmt: skip
    statin = fact_items(summary, {}, ["18262-6"], question="Is a statin indicated given the latest LDL?")
    assert not any(f["text"].startswith("Allergies") for f in statin)
    asked = fact_items(summary, {}, ["18262-6"], question="Any statin allergy or intolerance?")
    assert any("Peanut" in f["text"] for f in asked)
    general = fact_items(summary, {}, [], question="Summarise this patient")
    assert any("Peanut" in f["text"] for f in general)


# -- the contradiction guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "fails"),
    [
        ("A moderate-intensity statin is appropriate for this patient [A1][P2].", True),
        ("He should start moderate-intensity therapy [G1].", True),
        ("A statin is not indicated for him [P2].", True),
        ("High-intensity statin therapy is indicated for this patient [A1].", False),
        ("Moderate-intensity therapy is atorvastatin 10 to 20 mg daily [G1].", False),  # a definition
        ("High-intensity rather than moderate-intensity therapy is indicated [A1].", False),
    ],
)
def test_a_draft_contradicting_the_statin_verdict_fails(draft: str, fails: bool) -> None:
    evidence = _evidence(_statin())
    found = contradictions(sentences(draft), evidence)
    assert bool(found) is fails, found
    report = BasicOutputGuard()(draft, [], evidence, "p1")
    consistent = next(c for c in report["checks"] if c["name"] == "assessment_consistent")
    assert consistent["passed"] is not fails


def test_referral_stage_and_category_contradictions() -> None:
    evidence = _evidence(_statin(), _referral())
    assert contradictions(["Nephrology referral is not needed for her [P1]."], evidence)
    assert not contradictions(["Referral to nephrology is indicated [A2]."], evidence)
    stage = Assessment("ckd_stage", "CKD G category", "G5", "eGFR 12: G5 (kidney failure range).", KDIGO)
    bp = Assessment("bp_category", "BP category", "stage 2", "Stage 2 hypertension: mean 150/95 mmHg.", KDIGO)
    more = _evidence(stage, bp)
    assert contradictions(["Her CKD is stage 3a [A1]."], more)
    assert not contradictions(["Her eGFR is in category G5 [A1]."], more)
    assert contradictions(["Her blood pressure is stage 1 hypertension [P1]."], more)
    assert not contradictions(["She has stage 2 hypertension and G5 CKD [A1][A2]."], more)
    none = _evidence(_referral("not indicated"))
    assert contradictions(["She should be referred to nephrology [P1]."], none)


def test_insufficient_assessments_are_not_checked() -> None:
    evidence = _evidence(_statin("insufficient data"))
    assert not contradictions(["A moderate-intensity statin is indicated for him [P1]."], evidence)


# -- direct record questions ------------------------------------------------------------------------------------

_ids = itertools.count()


def _obs(code: str, value: float, when: str, unit: str) -> dict[str, Any]:
    return {"event_id": f"ev{next(_ids)}", "patient_id": "p1", "resource_type": "Observation", "code": code,
            "display": code, "value": value, "unit": unit, "date": when, "status": "final"}  # fmt: skip


def test_direct_record_questions_state_the_value_and_date_first() -> None:
    events = [
        _obs("4548-4", 6.1, "2019-03-01", "%"),
        _obs("4548-4", 6.8, "2023-02-10", "%"),
        _obs("2339-0", 110.0, "2023-02-09T06:00:00Z", "mg/dL"),
        _obs("2339-0", 140.0, "2023-02-10T06:00:00Z", "mg/dL"),
        _obs("2339-0", 160.0, "2023-02-10T07:00:00Z", "mg/dL"),
        _obs("33914-3", 58.0, "2017-06-01", "mL/min/{1.73_m2}"),
        _obs("33914-3", 44.0, "2018-04-01", "mL/min/{1.73_m2}"),
        _obs("33914-3", 12.0, "2023-02-10", "mL/min/{1.73_m2}"),
    ]
    as_of = date(2024, 1, 1)
    latest = record_answer("What is the latest HbA1c and when was it taken?", events, as_of)
    assert latest is not None and latest["text"].startswith("The latest HbA1c is 6.8 % on 2023-02-10.")
    mean = record_answer("Average glucose over the last 24 h of records?", events, as_of)
    assert mean is not None and "is 150 mg/dL, from 2 values" in mean["text"]
    change = record_answer("How has eGFR changed since 2018?", events, as_of)
    assert change is not None and change["text"].startswith(
        "The eGFR went from 44 mL/min/1.73 m2 on 2018-04-01"
    )
    assert change is not None and "to 12" in change["text"] and len(change["event_ids"]) == 2
    assert record_answer("Should we start metformin given her HbA1c?", events, as_of) is None
    assert record_answer("What is the latest potassium?", events, as_of) is None
    assert record_answer("What is her blood pressure category?", events, as_of) is None


def test_an_abbreviation_does_not_end_a_sentence() -> None:
    text = "G2: eGFR 84 (CKD-EPI 2021); CKD only with a marker of damage (e.g. ACR >= 30 mg/g). Next."
    assert len(sentences(text)) == 2


def test_a_dose_named_in_a_question_is_checked_without_a_patient() -> None:
    from agent.assessing import dose_checks

    records = dose_checks("Confirm atorvastatin 800 mg as high-intensity")
    assert [r["json"]["id"] for r in records] == ["dose_check"]
    assert "80 mg" in records[0]["json"]["statement"] and records[0]["json"]["verdict"] != "within range"
    evidence = number_items([], []) + assessment_items(records, [])
    made = evidence_answer("Confirm atorvastatin 800 mg as high-intensity", evidence, patient_id=None)
    assert made["mode"] == "evidence" and sentences(made["answer"])[0].startswith("Atorvastatin 800 mg")
    assert dose_checks("Is a statin indicated?") == []
