"""Each rule on small hand-built records: the guideline branch it takes, what it cites, what it asks for."""

from __future__ import annotations

from datetime import date

import pytest

from assessments import ASSESSMENT_IDS, INSUFFICIENT, Assessment, UnknownAssessmentError, assess
from assessments.egfr import ckd_epi_2021
from tests.unit.test_assessments_factory import Patient

AS_OF = date(2024, 6, 30)


def one(p: Patient, aid: str, as_of: date = AS_OF) -> Assessment:
    (a,) = assess(p.events, as_of=as_of, only=[aid], strict=True)
    return a


def lipids(p: Patient, tc: float, hdl: float, ldl: float, day: str = "2024-03-01") -> None:
    p.obs("2093-3", tc, day)
    p.obs("2085-9", hdl, day)
    p.obs("18262-6", ldl, day)


def primary_prevention(age_born: str = "1979-01-01", sex: str = "male") -> Patient:
    p = Patient(age_born, sex)
    p.bp(120, 78, "2023-06-01")
    p.bp(120, 78, "2024-03-01")
    p.smoking("Never smoker", "2024-03-01")
    return p


# --- statin -------------------------------------------------------------------------------------------


def test_clinical_ascvd_gives_high_intensity_in_the_issues_words() -> None:
    p = Patient("1957-02-01", "male")
    cid = p.condition("Ischemic heart disease", "2021-11-23", "414545008")
    a = one(p, "statin")
    assert a.verdict == "high-intensity"
    assert (
        a.statement
        == "High-intensity statin indicated: clinical ASCVD (ischemic heart disease since 2021-11-23)."
    )
    assert (
        cid in a.event_ids
        and a.source.doc_id == "acc_aha_cholesterol_2018"
        and "Age <= 75" in a.source.section
    )


def test_a_resolved_myocardial_infarction_is_still_clinical_ascvd() -> None:
    p = Patient("1960-01-01", "female")
    p.condition("Acute myocardial infarction", "2019-05-01", "57054005", status="resolved", end="2019-06-01")
    assert one(p, "statin").verdict == "high-intensity"


def test_revascularization_counts_as_clinical_ascvd() -> None:
    p = Patient("1960-01-01", "male")
    p.procedure("Percutaneous coronary intervention", "2020-02-02", "415070008")
    assert one(p, "statin").verdict == "high-intensity"


def test_family_history_is_not_clinical_ascvd() -> None:
    p = primary_prevention()
    p.condition("Family history of myocardial infarction", "2010-01-01")
    lipids(p, 180, 60, 100)
    assert one(p, "statin").verdict == "not indicated"


def test_ascvd_over_75_is_at_least_moderate() -> None:
    p = Patient("1945-01-01", "male")
    p.condition("Stroke", "2015-01-01", "230690007")
    a = one(p, "statin")
    assert a.verdict == "moderate-intensity" and "> 75" in a.statement


def test_ldl_190_gives_high_intensity_without_a_risk_estimate() -> None:
    p = Patient("1990-01-01", "female")
    ldl = p.obs("18262-6", 195, "2022-01-01")
    p.obs("18262-6", 120, "2024-01-01")  # on treatment later: the history stands
    a = one(p, "statin")
    assert a.verdict == "high-intensity" and ldl in a.event_ids and "190" in a.statement


def test_diabetes_40_to_75_gives_moderate_intensity() -> None:
    p = Patient("1970-01-01", "female")
    p.condition("Diabetes mellitus type 2", "2015-01-01", "44054006")
    a = one(p, "statin")
    assert a.verdict == "moderate-intensity" and "Group 3" in a.source.section


def test_prediabetes_is_not_diabetes() -> None:
    p = primary_prevention()
    p.condition("Prediabetes", "2015-01-01", "15777000")
    lipids(p, 170, 60, 100)
    assert one(p, "statin").verdict == "not indicated"


@pytest.mark.parametrize(
    ("born", "sex", "tc", "hdl", "sbp", "smoker", "verdict"),
    [
        ("1979-01-01", "male", 170, 60, 115, "Never smoker", "not indicated"),  # ~2 %
        ("1959-01-01", "male", 200, 50, 125, "Never smoker", "moderate-intensity"),  # ~8-10 %
        ("1952-01-01", "male", 260, 35, 160, "Current every day smoker", "high-intensity"),  # > 20 %
    ],
)
def test_primary_prevention_follows_the_pce_thresholds(
    born: str, sex: str, tc: float, hdl: float, sbp: float, smoker: str, verdict: str
) -> None:
    p = Patient(born, sex)
    p.bp(sbp, 78, "2023-06-01")
    p.bp(sbp, 78, "2024-03-01")
    p.smoking(smoker, "2024-03-01")
    lipids(p, tc, hdl, 120)
    pce = one(p, "ascvd_pce_10y")
    statin = one(p, "statin")
    assert pce.value is not None
    assert statin.verdict == verdict, (pce.value, statin.statement)
    expected = "high-intensity" if pce.value >= 20 else "moderate-intensity" if pce.value >= 7.5 else (
        "consider" if pce.value >= 5 else "not indicated")  # fmt: skip
    assert statin.verdict == expected


def test_borderline_risk_is_consider() -> None:
    p = primary_prevention("1964-01-01", "male")
    lipids(p, 170, 60, 110)
    pce = one(p, "ascvd_pce_10y")
    assert pce.value is not None and 5 <= pce.value < 7.5, pce.value
    assert one(p, "statin").verdict == "consider"


def test_missing_lipids_give_insufficient_data_naming_them() -> None:
    p = primary_prevention()
    a = one(p, "statin")
    assert a.verdict == INSUFFICIENT
    assert any("total cholesterol" in m for m in a.missing) and any("LDL" in m for m in a.missing)


def test_young_adult_without_indication_is_not_indicated() -> None:
    p = Patient("1995-01-01", "male")
    assert one(p, "statin").verdict == "not indicated"


# --- kidney -------------------------------------------------------------------------------------------


def test_egfr_is_recomputed_from_the_latest_creatinine() -> None:
    p = Patient("1964-06-30", "female")
    p.obs("38483-4", 1.4, "2023-01-01")
    cid = p.obs("38483-4", 1.1, "2024-05-01")
    a = one(p, "egfr_ckd_epi_2021")
    assert a.value == pytest.approx(round(ckd_epi_2021(1.1, 59, True), 1))
    assert a.unit == "mL/min/1.73m2" and cid in a.event_ids
    assert [i.date for i in a.inputs if i.name == "creatinine"] == ["2024-05-01"]


def test_egfr_needs_a_sex_the_equation_knows() -> None:
    p = Patient("1964-06-30", "unknown")
    p.obs("38483-4", 1.1, "2024-05-01")
    a = one(p, "egfr_ckd_epi_2021")
    assert a.verdict == INSUFFICIENT and any("sex" in m for m in a.missing)


def test_g5_persisting_over_3_months_is_named_kidney_failure_and_chronic() -> None:
    p = Patient("1957-01-01", "male")
    for day, creat in (("2023-10-01", 5.5), ("2024-02-01", 6.0), ("2024-06-01", 6.2)):
        p.obs("38483-4", creat, day)
    a = one(p, "ckd_stage")
    assert a.verdict == "G5" and "kidney failure" in a.statement
    assert "meets the CKD criterion" in a.statement and a.details["chronic"] is True
    assert len(a.inputs) == 3


def test_a_single_low_egfr_is_unconfirmed() -> None:
    p = Patient("1957-01-01", "male")
    p.obs("38483-4", 0.9, "2023-01-01")
    p.obs("38483-4", 1.8, "2024-06-01")
    a = one(p, "ckd_stage")
    assert (
        a.verdict in ("G3a", "G3b") and "repeat to confirm" in a.statement and a.details["chronic"] is False
    )


def test_a_reported_egfr_is_used_when_no_creatinine_exists() -> None:
    p = Patient("1957-01-01", "male")
    eid = p.obs("33914-3", 42, "2024-05-01")
    a = one(p, "ckd_stage")
    assert a.verdict == "G3b" and eid in a.event_ids and "as reported" in a.statement


def test_a_stale_creatinine_gives_insufficient_data() -> None:
    p = Patient("1957-01-01", "male")
    p.obs("38483-4", 1.0, "2022-01-01")
    for aid in ("egfr_ckd_epi_2021", "ckd_stage"):
        a = one(p, aid)
        assert a.verdict == INSUFFICIENT and any("12 months" in m for m in a.missing)


def test_referral_for_egfr_below_30() -> None:
    p = Patient("1957-01-01", "male")
    p.obs("38483-4", 3.0, "2024-05-01")
    a = one(p, "ckd_referral")
    assert a.verdict == "indicated" and "< 30" in a.statement and a.source.doc_id == "kdigo_ckd_2024"


def test_referral_for_acr_300() -> None:
    p = Patient("1957-01-01", "female")
    p.obs("38483-4", 0.8, "2024-05-01")
    p.obs("14959-1", 450, "2024-05-01")
    assert one(p, "ckd_referral").verdict == "indicated"
    assert one(p, "albuminuria").verdict == "A3"


def test_referral_for_rapid_decline() -> None:
    p = Patient("1957-01-01", "male")
    for day, creat in (("2022-06-01", 0.9), ("2023-06-01", 1.2), ("2024-06-01", 1.6)):
        p.obs("38483-4", creat, day)
    p.obs("14959-1", 20, "2024-06-01")
    a = one(p, "ckd_referral")
    assert a.verdict == "indicated" and "per year" in a.statement and a.details["egfr_slope_per_year"] < -5


def test_no_referral_needs_a_current_acr() -> None:
    p = Patient("1970-01-01", "female")
    p.obs("38483-4", 0.8, "2024-05-01")
    a = one(p, "ckd_referral")
    assert a.verdict == INSUFFICIENT and any("ACR" in m for m in a.missing)
    p.obs("14959-1", 12, "2024-05-01")
    assert one(p, "ckd_referral").verdict == "not indicated"


def test_kfre_from_egfr_and_acr() -> None:
    p = Patient("1959-01-01", "male")
    p.obs("38483-4", 2.6, "2024-05-01")
    p.obs("14959-1", 500, "2024-05-01")
    a = one(p, "kfre")
    assert a.value is not None and a.details["two_year_pct"] < a.value
    assert a.verdict.startswith("refer") and "North American" in a.statement


# --- blood pressure -----------------------------------------------------------------------------------


def test_bp_category_on_the_mean_of_the_last_two_visits() -> None:
    p = Patient("1970-01-01", "male")
    p.bp(170, 100, "2020-01-01")  # older visits do not count
    p.bp(128, 78, "2023-09-01")
    p.obs("8480-6", 136, "2024-05-01")
    p.obs("8480-6", 132, "2024-05-01")
    p.obs("8462-4", 84, "2024-05-01")
    a = one(p, "bp_category")
    assert a.verdict == "stage 1"  # (128 + 134) / 2 = 131, (78 + 84) / 2 = 81
    assert a.details == {"mean_systolic": 131, "mean_diastolic": 81, "unit": "mmHg"}
    assert {i.date for i in a.inputs} == {"2023-09-01", "2024-05-01"}


def test_one_visit_is_not_enough() -> None:
    p = Patient("1970-01-01", "male")
    p.bp(150, 95, "2024-05-01")
    a = one(p, "bp_category")
    assert a.verdict == INSUFFICIENT and "two visits" in a.missing[0]


def test_a_stale_latest_visit_is_not_enough() -> None:
    p = Patient("1970-01-01", "male")
    p.bp(150, 95, "2022-05-01")
    p.bp(150, 95, "2023-05-01")
    assert one(p, "bp_category").verdict == INSUFFICIENT


def test_severe_bp_cites_the_crisis_section() -> None:
    p = Patient("1970-01-01", "male")
    p.bp(190, 110, "2024-01-01")
    p.bp(186, 118, "2024-05-01")
    a = one(p, "bp_category")
    assert a.verdict == "severe" and "Crises" in a.source.section
    assert one(p, "bp_treatment").verdict == "indicated"


def test_stage_1_treatment_depends_on_risk() -> None:
    low = primary_prevention("1980-01-01", "female")
    low.events = [e for e in low.events if e.get("code") not in ("8480-6", "8462-4")]
    low.bp(132, 82, "2023-06-01")
    low.bp(134, 84, "2024-03-01")
    lipids(low, 170, 65, 100)
    a = one(low, "bp_treatment")
    assert a.verdict == "not indicated" and "< 10 %" in a.statement
    low.condition("Diabetes", "2020-01-01", "44054006")
    assert one(low, "bp_treatment").verdict == "indicated"


def test_stage_2_treatment_is_indicated() -> None:
    p = Patient("1980-01-01", "female")
    p.bp(142, 88, "2023-06-01")
    p.bp(146, 92, "2024-03-01")
    assert one(p, "bp_treatment").verdict == "indicated"


# --- glycemic, BMI, liver, AF, NEWS2, PREVENT -------------------------------------------------------------


def test_glycemic_status_by_hba1c_and_diagnosis() -> None:
    p = Patient("1970-01-01", "male")
    p.obs("4548-4", 5.9, "2024-01-01")
    assert one(p, "glycemic_status").verdict == "prediabetes"
    p.obs("4548-4", 6.8, "2024-05-01")
    a = one(p, "glycemic_status")
    assert a.verdict == "diabetes" and a.details["confirmed"] is False and "confirm" in a.statement
    p.obs("4548-4", 6.9, "2024-06-01")
    assert one(p, "glycemic_status").details["confirmed"] is True
    q = Patient("1970-01-01", "male")
    q.condition("Diabetes", "2010-01-01", "44054006")
    assert one(q, "glycemic_status").verdict == "diabetes"


def test_old_hba1c_gives_insufficient_data() -> None:
    p = Patient("1970-01-01", "male")
    p.obs("4548-4", 5.2, "2020-01-01")
    a = one(p, "glycemic_status")
    assert a.verdict == INSUFFICIENT and a.missing == ("HbA1c (none in the last 3 years)",)


def test_bmi_from_weight_and_height_when_no_bmi() -> None:
    p = Patient("1970-01-01", "male")
    p.obs("29463-7", 95, "2024-05-01")
    p.obs("8302-2", 175, "2024-05-01")
    a = one(p, "bmi_class")
    assert a.verdict == "obesity class I" and a.value == pytest.approx(31.0)


def test_a_recorded_bmi_just_under_30_is_overweight_though_shown_as_30() -> None:
    p = Patient("1970-01-01", "male")
    p.obs("39156-5", 29.96, "2024-05-01")
    a = one(p, "bmi_class")
    assert a.verdict == "overweight" and a.value == pytest.approx(30.0)


@pytest.mark.parametrize(("aid", "born"), [("ascvd_pce_10y", "1990-01-01"), ("ascvd_pce_10y", "1940-01-01"),
                                           ("prevent_10y", "2000-01-01"), ("prevent_10y", "1940-01-01")])  # fmt: skip
def test_outside_the_risk_equations_ages_is_not_applicable_even_without_labs(aid: str, born: str) -> None:
    a = one(Patient(born, "female"), aid)
    assert a.verdict == "not applicable" and not a.missing


def test_fib4_needs_all_three_together() -> None:
    p = Patient("1970-01-01", "male")
    p.obs("1920-8", 40, "2024-05-01")
    p.obs("1742-6", 25, "2024-05-01")
    assert one(p, "fib4").verdict == INSUFFICIENT
    p.obs("777-3", 200, "2024-05-01")
    a = one(p, "fib4")
    assert a.value == pytest.approx(54 * 40 / (200 * 5), abs=0.01) and a.verdict == "indeterminate"


def test_cha2ds2_vasc_only_with_active_af() -> None:
    p = Patient("1950-01-01", "female")
    p.condition("Hypertension", "2010-01-01", "38341003")
    assert one(p, "cha2ds2_vasc").verdict == "not applicable"
    p.condition("Atrial fibrillation", "2023-01-01", "49436004")
    p.condition("Stroke", "2018-01-01", "230690007", status="resolved", end="2018-02-01")
    a = one(p, "cha2ds2_vasc")
    # hypertension 1, age 74 -> 1, prior stroke 2, female 1
    assert a.verdict == "5" and "recommended" in a.statement and a.value == 5.0


def test_news2_from_a_complete_same_day_set() -> None:
    p = Patient("1950-01-01", "male")
    day = "2024-06-30"
    for code, value in (("9279-1", 22), ("59408-5", 95), ("8480-6", 105), ("8867-4", 95), ("8310-5", 38.5)):
        p.obs(code, value, day)
    assert one(p, "news2").verdict == INSUFFICIENT  # no consciousness level
    p.obs("80288-4", "Alert", day, unit="")
    a = one(p, "news2")
    assert a.value == 6 and a.verdict == "medium" and "scored as on air" in a.statement
    assert one(p, "news2", as_of=date(2024, 7, 5)).verdict == INSUFFICIENT  # stale by then


def test_prevent_not_applicable_with_known_cvd_and_computed_without() -> None:
    p = primary_prevention("1974-01-01", "female")
    lipids(p, 200, 45, 120)
    p.obs("38483-4", 0.8, "2024-03-01")
    a = one(p, "prevent_10y")
    assert a.value is not None and a.verdict == f"{a.value:g} %" and "ASCVD" in a.statement
    p.condition("Chronic congestive heart failure", "2024-01-01", "88805009")
    assert one(p, "prevent_10y").verdict == "not applicable"


# --- the entry point ----------------------------------------------------------------------------------


def test_assess_returns_every_id_in_order_and_later_data_is_ignored() -> None:
    p = Patient("1964-01-01", "male")
    p.obs("38483-4", 1.0, "2024-05-01")
    p.obs("38483-4", 6.0, "2024-08-01")  # after as_of
    out = assess(p.events, as_of=AS_OF)
    assert [a.id for a in out] == list(ASSESSMENT_IDS)
    egfr = next(a for a in out if a.id == "egfr_ckd_epi_2021")
    assert egfr.value is not None and egfr.value > 60


def test_only_and_unknown_ids() -> None:
    p = Patient()
    assert [a.id for a in assess(p.events, only=["statin", "ckd_stage"])] == ["ckd_stage", "statin"]
    assert [a.id for a in assess(p.events, only=["statin", "no_such"])] == ["statin"]
    with pytest.raises(UnknownAssessmentError):
        assess(p.events, only=["no_such"], strict=True)


def test_json_shape_is_the_documented_one() -> None:
    p = Patient("1957-02-01", "male")
    p.condition("Ischemic heart disease", "2021-11-23", "414545008")
    j = one(p, "statin").to_json()
    assert set(j) >= {"id", "name", "verdict", "statement", "inputs", "missing", "source"}
    assert set(j["source"]) >= {"doc_id", "title", "section", "grade"}
    assert set(j["inputs"][0]) == {"name", "value", "unit", "date", "event_ids"}


def test_pce_takes_the_african_american_equations_from_the_recorded_race() -> None:
    p = Patient("1969-01-01", "female")
    p.events[0]["race"] = "Black or African American"
    p.bp(120, 70, "2023-06-01")
    p.bp(120, 70, "2024-03-01")
    p.smoking("Never smoker", "2024-03-01")
    lipids(p, 213, 50, 130)
    a = one(p, "ascvd_pce_10y")  # 55 years: the Goff 2013 worked example, 3.0 % for African American women
    assert a.value == pytest.approx(3.0, abs=0.1) and "African American equations" in a.statement
    p.events[0]["race"] = ""
    b = one(p, "ascvd_pce_10y")
    assert b.value == pytest.approx(2.1, abs=0.1) and "race not recorded" in b.statement


def test_a_cancelled_smoking_status_and_a_not_done_procedure_are_ignored() -> None:
    p = primary_prevention("1964-01-01", "male")
    lipids(p, 170, 60, 110)
    p.obs("72166-2", "Current every day smoker", "2024-05-01", unit="", status="cancelled")
    a = one(p, "ascvd_pce_10y")
    assert "non-smoker" in a.statement
    e = p.procedure("Percutaneous coronary intervention", "2020-02-02", "415070008")
    next(x for x in p.events if x["event_id"] == e)["status"] = "not-done"
    assert one(p, "statin").verdict != "high-intensity"
