"""Medication rules read from the real open-medicine guideline files, and the order checks over them."""

from __future__ import annotations

from typing import Any

import pytest

from agent.medication_checks import check_order, draft_from_resource
from agent.medication_rules import MedicationRules, extract_rules
from guidelines_index.corpora import corpus_path
from guidelines_index.indexer import prepare_chunks
from guidelines_index.readers import read_file

GUIDELINES = ("acc_aha_cholesterol_2018", "ada_diabetes_2024", "acc_aha_hypertension_2017")


@pytest.fixture(scope="module")
def rules() -> MedicationRules:
    """Rules from the real guideline files, chunked as the indexer chunks them (no store needed)."""
    root = corpus_path("open-medicine")
    points: list[tuple[str, dict[str, Any]]] = []
    for folder in GUIDELINES:
        for path in sorted((root / folder).glob("*.md")):
            for doc in read_file(path, str(path), max_bytes=10_000_000):
                points += [(c.id, c.payload) for c in prepare_chunks(doc, target_words=180, indexed_at="t")]
    return extract_rules(points)


def _order(text: str, mg: float | None = None, per_day: int = 1) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "medicationCodeableConcept": {"text": text},
    }
    if mg is not None:
        res["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}],
            }
        ]
    return res


def test_dose_tables_give_ranges_and_classes(rules: MedicationRules) -> None:
    assert rules.classes["atorvastatin"] == rules.classes["simvastatin"] == "statin"
    assert (rules.doses["atorvastatin"].low, rules.doses["atorvastatin"].high) == (10, 80)
    assert rules.doses["metformin"].high == 2550  # "Maximum dose | 2,000–2,550 mg/day"
    assert rules.classes["lisinopril"] == "ace inhibitor" and rules.classes["losartan"] == "arb"
    renal = {(r.drug, r.low, r.below, r.severity) for r in rules.renal}
    assert ("metformin", None, 30, "critical") in renal and ("metformin", 30, 45, "warning") in renal


def test_dose_above_the_table_suggests_the_top_dose(rules: MedicationRules) -> None:
    order = draft_from_resource(_order("Atorvastatin 80 MG Oral Tablet", 80, per_day=2))
    (finding,) = check_order(order, rules)
    # 160 mg/day against a maximum of 80: keep the twice-daily timing, halve each dose
    assert (finding.check, finding.severity, finding.dose_mg) == ("dose", "warning", 40)
    assert finding.cite.doc_id == "acc_aha_cholesterol_2018" and len(finding.summary) < 140
    assert check_order(draft_from_resource(_order("Atorvastatin 40 MG Oral Tablet", 40)), rules) == []


def test_renal_limits_follow_the_latest_egfr(rules: MedicationRules) -> None:
    order = draft_from_resource(_order("Metformin hydrochloride 500 MG Oral Tablet", 500, per_day=2))
    low = check_order(order, rules, egfr={"value": 24.0, "date": "2024-02-01", "cite": ["ev-1"]})
    assert [(f.check, f.severity, f.remove, f.record_cite) for f in low] == [
        ("renal", "critical", True, ("ev-1",))
    ]
    band = check_order(order, rules, egfr={"value": 38.0, "date": "2024-02-01", "cite": ["ev-1"]})
    assert [(f.check, f.severity, f.remove) for f in band] == [("renal", "warning", False)]
    assert check_order(order, rules, egfr={"value": 75.0, "date": "2024-02-01", "cite": ["ev-1"]}) == []


def test_duplicates_and_named_interactions(rules: MedicationRules) -> None:
    statin = draft_from_resource(_order("Simvastatin 40 MG Oral Tablet", 40))
    active = [
        {"display": "atorvastatin 20 MG Oral Tablet", "since": "2019-01-01", "cite": ["ev-2"]},
        {"display": "Gemfibrozil 600 MG Oral Tablet", "since": "2020-01-01", "cite": ["ev-3"]},
    ]
    found = {(f.check, f.severity) for f in check_order(statin, rules, active=active)}
    assert found == {("duplicate", "warning"), ("interaction", "critical")}
    acei = draft_from_resource(_order("Lisinopril 10 MG Oral Tablet", 10))
    arb = [{"display": "losartan potassium 50 MG Oral Tablet", "cite": ["ev-4"]}]
    (finding,) = check_order(acei, rules, active=arb)
    assert (finding.check, finding.severity) == ("interaction", "critical")
    assert finding.cite.doc_id in ("acc_aha_hypertension_2017", "ada_diabetes_2024")  # both say so
    # "Avoid simvastatin > 20 mg with amlodipine": only above 20 mg
    amlo = [{"display": "amlodipine 5 MG Oral Tablet", "cite": ["ev-5"]}]
    assert (
        check_order(draft_from_resource(_order("Simvastatin 20 MG Oral Tablet", 20)), rules, active=amlo)
        == []
    )
    assert [f.check for f in check_order(statin, rules, active=amlo)] == ["interaction"]


def test_unknown_drugs_and_missing_doses_give_no_findings(rules: MedicationRules) -> None:
    assert check_order(draft_from_resource(_order("Amoxicillin 250 MG Oral Capsule", 250)), rules) == []
    order = draft_from_resource(_order("Atorvastatin Oral Tablet"))
    assert order.dose_mg is None and check_order(order, rules) == []
