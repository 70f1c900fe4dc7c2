"""patient-view cards from the computed assessments: the same records the agent cites, one code path."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.assessing import _record, run_assessments
from agent.care_gaps import Recommendation
from assessments.model import Assessment, Input, Source
from service.cds.cards import CARD_ASSESSMENTS, assessment_cards, covered_flags
from service.cds.hooks import patient_view_cards, timeline

BASE = "https://cds.example.org"
KDIGO = Source("kdigo_ckd_2024", "KDIGO 2024 CKD", "When to Refer", "1B", "refer to nephrology eGFR < 30")
PASSAGE = {"id": "chunk-1", "payload": {"doc_id": "kdigo_ckd_2024", "title": "KDIGO 2024", "version": "2024",
                                        "section_path": ["Referral"]}}  # fmt: skip


def _referral(verdict: str) -> Assessment:
    return Assessment(
        "ckd_referral",
        "Nephrology referral",
        verdict,
        f"Nephrology referral {verdict}: eGFR 12 mL/min/1.73m2 (< 30) on 2023-05-01.",
        KDIGO,
        inputs=(Input("eGFR", 12.0, "mL/min/1.73m2", "2023-05-01", ("ev-egfr",)),),
    )


def test_an_actionable_verdict_makes_a_card_that_cites_its_passage_and_entries() -> None:
    cards = assessment_cards([_record(_referral("indicated"))], {"ckd_referral": PASSAGE}, BASE)
    assert len(cards) == 1
    card, trace = cards[0]
    assert card["summary"].startswith("Nephrology referral indicated") and card["indicator"] == "warning"
    assert card["links"][0]["url"] == f"{BASE}/v1/evidence/chunk-1"
    assert "KDIGO 2024 CKD: When to Refer (grade 1B)" in card["source"]["label"]
    assert "eGFR: 12 mL/min/1.73m2 (2023-05-01)" in card["detail"]
    assert trace["kind"] == "assessment:ckd_referral" and trace["record"] == ["ev-egfr"]
    assert trace["evidence"][0]["id"] == "chunk-1"


def test_verdicts_that_ask_nothing_make_no_card() -> None:
    assert assessment_cards([_record(_referral("not indicated"))], {}, BASE) == []
    assert assessment_cards([_record(_referral("insufficient data"))], {}, BASE) == []


def test_flags_an_assessment_card_covers_are_dropped() -> None:
    flags = [{"id": "egfr-below-60-persistent"}, {"id": "bmi-obesity"}, {"id": "bp-stage-2"}]
    kept = covered_flags(flags, ["ckd_stage"])
    assert [f["id"] for f in kept] == ["bmi-obesity", "bp-stage-2"]


class _Knowledge:
    """The two lookups patient_view_cards makes of the index, answered from memory."""

    def __init__(self) -> None:
        self.recommendations: list[Recommendation] = []

    def passage_for(self, source: str) -> dict[str, Any] | None:
        return None

    def passage_for_assessment(self, record: dict[str, Any]) -> dict[str, Any] | None:
        return PASSAGE


def test_patient_view_cards_come_from_the_same_assessments_as_the_agent(shared_data: Path) -> None:
    path = shared_data / "synthea-r4" / "Buddy_MacGyver_c96ab841-48f4-42e4-bd46-f25c1490e422.json"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    as_of = date(1983, 1, 8)
    cards = patient_view_cards(resources, pid, as_of, _Knowledge(), BASE)  # type: ignore[arg-type]
    records = run_assessments(timeline(resources, pid), list(CARD_ASSESSMENTS), as_of=as_of)
    expected = [
        r["json"]["statement"][:100]
        for r in records
        if r["json"]["verdict"] in CARD_ASSESSMENTS[r["json"]["id"]]
    ]
    shown = [c["summary"][:100] for c, t in cards if t["kind"].startswith("assessment:")]
    assert expected and shown == expected
