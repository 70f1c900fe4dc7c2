"""Care-gap eligibility: age and sex boundaries, superseded versions, population rules, the real USPSTF set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.care_gaps import (
    Recommendation,
    applies_to,
    care_gaps,
    eligible_recommendations,
    recommendations_from_json,
    recommendations_from_payloads,
    risk_factors_from_summary,
)


def _rec(rec_id: str, title: str, grade: str = "A", sex: str = "any", lo: float = 50, hi: float = 75, **kw):  # type: ignore[no-untyped-def]
    return Recommendation(rec_id=rec_id, title=title, grade=grade, sex=sex, age_min=lo, age_max=hi, **kw)


CRC = _rec("331", "Colorectal Cancer: Screening -- Adults aged 50 to 75 years")
BREAST = _rec("310", "Breast Cancer: Screening -- Women aged 50 to 74 years", "B", "female", 50, 74)


@pytest.mark.parametrize(
    ("age", "sex", "expected"),
    [(49, "male", False), (50, "male", True), (75, "female", True), (76, "female", False)],
)
def test_age_range_is_inclusive_at_both_ends(age: int, sex: str, expected: bool) -> None:
    assert applies_to(CRC, age, sex) is expected


def test_sex_specific_recommendations_need_that_sex() -> None:
    assert applies_to(BREAST, 60, "female")
    assert not applies_to(BREAST, 60, "male")
    assert not applies_to(BREAST, 60, "unknown")  # unknown sex: sex-neutral ones only
    assert applies_to(CRC, 60, "unknown")


def test_superseded_versions_never_apply_but_the_current_one_does() -> None:
    payload = {
        "specificRecommendations": [
            {"id": 1, "title": "X: Screening -- Adults 50 to 75", "grade": "A", "sex": "men and women",
             "ageRange": [50, 75], "text": "old", "version": "2016"},
            {"id": 1, "title": "X: Screening -- Adults 45 to 75", "grade": "A", "sex": "men and women",
             "ageRange": [45, 75], "text": "new", "version": "2021"},
            {"id": 2, "title": "Y: Screening -- Adults", "grade": "B", "sex": "men and women",
             "ageRange": [18, 100], "text": "y"},
            {"id": 3, "title": "Z: Screening -- Adults", "grade": "B", "sex": "men and women",
             "ageRange": [18, 100], "text": "z", "supersedes": ["2"]},
        ]
    }  # fmt: skip
    recs = recommendations_from_json(payload)
    assert [r.superseded for r in recs] == [True, False, True, False]
    got = [(r.rec_id, r.version) for r in eligible_recommendations(47, "female", recs)]
    assert got == [("1", "2021"), ("3", "1")]


def test_care_gaps_follow_population_rules() -> None:
    recs = [
        CRC,
        _rec("503", "Hepatitis B Virus Infection in Pregnant Women: Screening -- Pregnant women",
             sex="female", lo=11, hi=49, risk_name="Pregnant"),
        _rec("1916", "Lung Cancer: Screening -- Adults aged 50 to 80 years who have a 20 pack-year smoking history",
             "B", lo=50, hi=80),
        _rec("341", "Statin Use: Preventive Medication -- Adults aged 40 to 75 years with no history of CVD, "
             "1 or more CVD risk factors", "B", lo=40, hi=75),
        _rec("332", "Colorectal Cancer: Screening -- Adults aged 76 to 85 years", "C", lo=76, hi=85),
    ]  # fmt: skip
    gaps = {g.recommendation.rec_id: g.status for g in care_gaps(60, "female", recs)}
    assert gaps == {
        "331": "due",
        "1916": "conditional",
        "341": "conditional",
    }  # no pregnancy in record: dropped
    gaps = {
        g.recommendation.rec_id: g.status for g in care_gaps(60, "female", recs, risk_factors={"tobacco"})
    }
    assert gaps["1916"] == "due"
    gaps = {g.recommendation.rec_id: g.status for g in care_gaps(60, "female", recs, risk_factors={"cvd"})}
    assert "341" not in gaps  # secondary, not primary prevention
    gaps = {
        g.recommendation.rec_id: g.status for g in care_gaps(30, "female", recs, risk_factors={"pregnant"})
    }
    assert gaps == {"503": "due"}
    with pytest.raises(ValueError, match="unknown risk factor"):
        care_gaps(60, "female", recs, risk_factors={"smoker"})


def test_recommendations_from_store_payloads_cite_the_first_chunk() -> None:
    base = {
        "kind": "recommendation", "doc_id": "uspstf_331", "version": "1", "locator": "#331",
        "title": CRC.title, "grade": "Grade A", "sex": "any", "age_min": 50.0, "age_max": 75.0,
        "issuer": "USPSTF", "superseded": False, "status": "current",
    }  # fmt: skip
    points = [
        ("chunk-b", {**base, "chunk_index": 2, "text": "later"}),
        ("chunk-a", {**base, "chunk_index": 0, "text": "The USPSTF recommends screening"}),
        ("other", {"kind": "guideline", "doc_id": "kdigo"}),
        ("old", {**base, "version": "0", "chunk_index": 0, "superseded": True, "status": "superseded"}),
    ]
    recs = recommendations_from_payloads(points)
    assert [(r.chunk_id, r.grade, r.superseded) for r in recs] == [
        ("old", "A", True),
        ("chunk-a", "A", False),
    ]
    assert recs[1].rec_id == "331" and recs[1].topic == "Colorectal Cancer: Screening"


def test_risk_factors_from_summary() -> None:
    summary = {
        "problems": [{"display": "Hypertension"}, {"display": "Smokes tobacco daily (finding)"}],
        "latest": {"39156-5": {"value": 31.2}},
    }
    assert risk_factors_from_summary(summary) == {"cvd_risk", "tobacco", "overweight", "obese"}
    assert risk_factors_from_summary({"problems": [], "latest": {}}) == set()


def test_real_uspstf_set_matches_its_age_and_sex_fields(shared_data: Path) -> None:
    """Against the 137 published records: eligibility equals the records' own ageRange and sex fields."""
    raw = json.loads((shared_data / "uspstf" / "uspstf-recommendations.json").read_text())
    recs = recommendations_from_json(raw)
    assert len(recs) == 137
    for age, sex in [(0, "male"), (21, "female"), (50, "male"), (52, "female"), (74, "female"), (80, "male")]:
        expected = {
            str(r["id"])
            for r in raw["specificRecommendations"]
            if r["ageRange"][0] <= age <= r["ageRange"][1] and r["sex"] in ("men and women", sex)
        }
        assert {r.rec_id for r in eligible_recommendations(age, sex, recs)} == expected
    due = {g.recommendation.rec_id for g in care_gaps(52, "female", recs) if g.status == "due"}
    assert {"331", "310", "302", "524"} <= due  # colorectal, breast, blood pressure, hepatitis C
    assert "426" not in due and "413" not in due  # cervical 21-30; prostate is male and grade C
    male_due = {g.recommendation.rec_id for g in care_gaps(52, "male", recs) if g.status == "due"}
    assert "310" not in male_due and "331" in male_due
