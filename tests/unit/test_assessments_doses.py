"""Dose checks of named drugs: label maximum, renal bands at the computed eGFR, doses from text and orders."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from assessments import INSUFFICIENT
from assessments.doses import (
    DOSE_CHECK,
    dose_assessments,
    draft_from_resource,
    mentions_in_text,
    order_dose_assessments,
)
from assessments.drug_labels import LABELS, find_label
from tests.unit.test_assessments_factory import Patient

AS_OF = date(2024, 6, 30)


def verdict(text: str, egfr: float | None = None) -> str:
    (a,) = dose_assessments(text, [], egfr=egfr)
    return a.verdict


def test_ten_times_the_maximum_is_said_in_so_many_words() -> None:
    (a,) = dose_assessments("Confirm atorvastatin 800 mg as high-intensity", [])
    assert a.id == DOSE_CHECK and a.verdict == "above maximum"
    assert a.statement.startswith("Atorvastatin 800 mg/day is above the 80 mg/day label maximum (10x).")
    assert a.value == 800 and a.unit == "mg/day"
    assert a.source.doc_id == "acc_aha_cholesterol_2018" and "FDA label" in a.source.reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("atorvastatin 80 mg daily", "within range"),
        ("atorvastatin 81 mg", "above maximum"),
        ("metformin 1000 mg twice daily", "within range"),
        ("metformin 1000 mg three times a day", "above maximum"),  # 3,000 mg/day > 2,550
        ("1.5 g of acetaminophen four times a day", "above maximum"),  # 6 g/day
        ("losartan 50mg bid", "within range"),
    ],
)
def test_daily_dose_against_the_label_maximum(text: str, expected: str) -> None:
    assert verdict(text, egfr=90) == expected


@pytest.mark.parametrize(
    ("text", "egfr", "expected"),
    [
        ("rosuvastatin 20 mg", 25, "renal adjustment needed"),  # eGFR < 30: max 10 mg
        ("rosuvastatin 10 mg", 25, "within range"),
        ("rosuvastatin 20 mg", 31, "within range"),
        ("metformin 500 mg twice daily", 24, "contraindicated"),
        ("metformin 500 mg twice daily", 38, "renal adjustment needed"),  # do not start at 30-45
        ("metformin 500 mg twice daily", 46, "within range"),
        ("sitagliptin 100 mg", 40, "renal adjustment needed"),
        ("sitagliptin 50 mg", 40, "within range"),
        ("gabapentin 600 mg three times a day", 25, "renal adjustment needed"),
    ],
)
def test_renal_bands_at_the_given_egfr(text: str, egfr: float, expected: str) -> None:
    assert verdict(text, egfr) == expected


def test_the_renal_statement_names_the_egfr_and_the_label_rule() -> None:
    (a,) = dose_assessments("rosuvastatin 20 mg", [], egfr=25.0)
    assert "eGFR 25" in a.statement and "do not exceed 10 mg/day" in a.statement
    assert [i.name for i in a.inputs] == ["rosuvastatin dose (question)", "eGFR"]


def test_the_egfr_is_computed_from_the_record_and_cited() -> None:
    p = Patient("1957-02-01", "male")
    cid = p.obs("2160-0", 4.5, "2024-05-01")  # CKD-EPI 2021 ~ 13
    (a,) = dose_assessments("Can he take metformin 500 mg twice daily?", p.events, as_of=AS_OF)
    assert a.verdict == "contraindicated"
    assert cid in a.event_ids and "2024-05-01" in a.statement


def test_a_renally_dosed_drug_without_a_current_egfr_is_insufficient_data() -> None:
    p = Patient("1957-02-01", "male")
    p.obs("2160-0", 1.0, "2020-01-01")  # older than 12 months
    (a,) = dose_assessments("rosuvastatin 20 mg", p.events, as_of=AS_OF)
    assert a.verdict == INSUFFICIENT and a.missing


def test_a_drug_without_renal_rules_needs_no_egfr() -> None:
    assert verdict("amlodipine 10 mg") == "within range"


def test_a_drug_named_without_a_dose_uses_the_active_order_or_asks_for_the_dose() -> None:
    assert verdict("is lisinopril right for her?") == INSUFFICIENT
    p = Patient("1957-02-01", "male")
    eid = p.medication("Simvastatin 80 MG Oral Tablet", "2023-01-01")
    (a,) = dose_assessments("Is his simvastatin dose safe?", p.events, egfr=70.0, as_of=AS_OF)
    assert a.verdict == "within range" and eid in a.event_ids and a.value == 80
    assert "12 months" in a.statement  # the label's restriction on 80 mg


def test_text_mentions_read_units_and_frequency() -> None:
    (m,) = mentions_in_text("Metformin 1 g twice daily")
    assert (m.label.drug, m.mg, m.per_day, m.daily_mg) == ("metformin", 1000.0, 2.0, 2000.0)
    (m,) = mentions_in_text("Lipitor 40mg")
    assert m.label.drug == "atorvastatin" and m.per_day is None
    assert [x.label.drug for x in mentions_in_text("rosuvastatin 5 mg and ezetimibe 10 mg")] == [
        "rosuvastatin",
        "ezetimibe",
    ]
    assert mentions_in_text("what is the latest HbA1c?") == []


def _order(text: str, mg: float, per_day: int = 1) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "medicationCodeableConcept": {"text": text},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}],
            }
        ],
    }


def test_a_draft_order_is_checked_like_a_question() -> None:
    (a,) = order_dose_assessments(_order("Rosuvastatin 40 MG Oral Tablet", 40), egfr=20.0)
    assert a.verdict == "renal adjustment needed" and a.inputs[0].name == "rosuvastatin dose (order)"
    (b,) = order_dose_assessments(_order("Atorvastatin 80 MG Oral Tablet", 80, per_day=2))
    assert b.verdict == "above maximum" and "(2x)" in b.statement
    assert order_dose_assessments(_order("Unknownium 5 MG", 5)) == []
    assert draft_from_resource(_order("Metformin 500 MG", 500, 2)).daily_mg == 1000


def test_every_label_has_a_positive_maximum_and_ordered_bands() -> None:
    for label in LABELS:
        assert label.max_mg_day > 0 and find_label(label.drug) is label
        for band in label.renal:
            assert band.low < band.below and (band.contraindicated or band.do_not_start or band.max_mg)


def test_agent_modules_still_export_the_moved_names() -> None:
    from agent import medication_checks, medication_rules
    from assessments import doses
    from assessments import medication_rules as moved

    assert medication_checks.draft_from_resource is doses.draft_from_resource
    assert medication_rules.extract_rules is moved.extract_rules
