"""USPSTF services due: population confirmed by the record, last service against its interval."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from assessments.preventive import (
    RULES,
    due_services,
    preventive_assessments,
    preventive_status,
    recommendations_from_json,
)
from assessments.preventive_eligibility import Recommendation
from assessments.preventive_services import SERVICES
from tests.unit.test_assessments_factory import Patient

AS_OF = date(2021, 6, 30)


def _rec(
    rid: str, title: str, grade: str = "A", sex: str = "any", lo: float = 18, hi: float = 100, text: str = ""
) -> Recommendation:
    return Recommendation(rid, title, grade, sex, lo, hi, text, doc_id=f"uspstf_{rid}")


CRC = _rec("331", "Colorectal Cancer: Screening -- Adults aged 50 to 75 years", lo=50, hi=75)
MAMMO = _rec("310", "Breast Cancer: Screening -- Women aged 50 to 74 years", "B", "female", 50, 74)
CERVIX = _rec("10426", "Cervical Cancer: Screening -- Women aged 30 to 65 years", sex="female", lo=30, hi=65)
HIV_PREG = _rec("486", "Human Immunodeficiency Virus (HIV) Infection: Screening -- Pregnant persons",
                sex="female", lo=11, hi=49)  # fmt: skip
HIV = _rec("485", "Human Immunodeficiency Virus (HIV) Infection: Screening -- Adolescents and adults aged 15 "
           "to 65 years", lo=15, hi=65)  # fmt: skip
GLUCOSE = _rec("303", "Abnormal Blood Glucose and Type 2 Diabetes Mellitus: Screening -- Adults aged 40 to 70 "
               "years who are overweight or obese", "B", lo=40, hi=70)  # fmt: skip
CESSATION = _rec("1905", "Interventions for Tobacco Smoking Cessation in Adults, Including Pregnant Persons -- "
                 "Nonpregnant adults")  # fmt: skip
DEPRESSION = _rec("315", "Depression in Adults: Screening -- General adult population", "B")
BP = _rec("302", "High Blood Pressure in Adults: Screening -- Adults aged 18 years or older")
STATIN = _rec("341", "Statin Use for the Primary Prevention of Cardiovascular Disease in Adults: Preventive "
              "Medication -- Adults aged 40 to 75 years with no history of CVD", "B", lo=40, hi=75)  # fmt: skip
ALL = [CRC, MAMMO, CERVIX, HIV_PREG, HIV, GLUCOSE, CESSATION, DEPRESSION, BP, STATIN]


def status_of(p: Patient, rec: Recommendation, as_of: date = AS_OF) -> str:
    found = [s for s in preventive_status(p.events, [rec], as_of=as_of) if s.recommendation is rec]
    return found[0].status if found else "not eligible"


@pytest.mark.parametrize(
    ("done", "code", "status"),
    [
        ("2012-01-01", "73761001", "done"),  # colonoscopy 9.5 years ago: within 10 years
        ("2011-06-01", "73761001", "due"),  # 10 years and a month ago
        ("2021-01-01", "1015401000000102", "done"),  # FOBT this year
        ("2020-05-01", "1015401000000102", "due"),  # FOBT more than a year ago
    ],
)
def test_colorectal_screening_is_due_by_the_interval_of_the_last_test(
    done: str, code: str, status: str
) -> None:
    p = Patient("1960-01-01", "male")
    p.procedure("Colorectal screening test", done, code)
    assert status_of(p, CRC) == status


def test_a_due_item_cites_age_sex_the_last_service_and_its_uspstf_source() -> None:
    p = Patient("1960-01-01", "female")
    eid = p.procedure("Colonoscopy", "2009-03-01", "73761001")
    (a,) = [x for x in preventive_assessments(p.events, [CRC], as_of=AS_OF)]
    assert a.id == "uspstf_331" and a.verdict == "due"
    assert a.source.doc_id == "uspstf_331" and a.source.grade == "A" and a.source.title == CRC.title
    names = [i.name for i in a.inputs]
    assert names[:2] == ["age", "sex"] and "last colonoscopy" in names
    assert eid in a.event_ids
    assert "last colonoscopy on 2009-03-01" in a.statement


def test_mammography_counts_for_two_years_and_breast_cancer_takes_the_patient_out() -> None:
    p = Patient("1960-01-01", "female")
    p.obs("24606-6", "BI-RADS 1", "2019-09-01")
    assert status_of(p, MAMMO) == "done"
    assert status_of(p, MAMMO, date(2021, 9, 2)) == "due"
    q = Patient("1960-01-01", "female")
    q.condition("Malignant neoplasm of breast", "2015-01-01", "254837009")
    assert status_of(q, MAMMO) == "not in population"


def test_cervical_screening_takes_cytology_3_years_or_hpv_5_years_and_not_after_hysterectomy() -> None:
    p = Patient("1980-01-01", "female")
    p.obs("21440-3", "negative", "2017-01-01")  # hrHPV 4.5 years ago
    assert status_of(p, CERVIX) == "done"
    q = Patient("1980-01-01", "female")
    q.procedure("Cytopathology procedure, preparation of smear, genital source", "2017-01-01", "90226004")
    assert status_of(q, CERVIX) == "due"  # cytology alone lasts 3 years
    q.procedure("Total hysterectomy", "2018-01-01", "116140006")
    assert status_of(q, CERVIX) == "not in population"


def test_a_pregnancy_screening_is_due_only_during_a_pregnancy_and_once_in_it() -> None:
    p = Patient("1990-01-01", "female")
    assert status_of(p, HIV_PREG) == "not in population"  # not pregnant: never due
    p.condition("Normal pregnancy", "2021-02-01", "72892002")
    assert status_of(p, HIV_PREG) == "due"
    p.procedure("Human immunodeficiency virus antigen test", "2020-06-01", "31676001")
    assert status_of(p, HIV_PREG) == "due"  # a test before this pregnancy does not count
    p.procedure("Human immunodeficiency virus antigen test", "2021-03-01", "31676001")
    assert status_of(p, HIV_PREG) == "done"


def test_a_delivered_pregnancy_is_not_current() -> None:
    p = Patient("1990-01-01", "female")
    p.condition("Normal pregnancy", "2020-01-01", "72892002", status="resolved", end="2020-09-20")
    assert status_of(p, HIV_PREG) == "not in population"


def test_one_time_hiv_screening_counts_from_the_start_of_the_age_range() -> None:
    p = Patient("1990-01-01", "male")
    p.procedure("Human immunodeficiency virus antigen test", "2004-01-01", "31676001")  # age 14
    assert status_of(p, HIV) == "due"
    p.procedure("Human immunodeficiency virus antigen test", "2010-01-01", "31676001")
    assert status_of(p, HIV) == "done"


def test_diabetes_screening_needs_overweight_and_is_not_for_a_known_diabetic() -> None:
    p = Patient("1970-01-01", "male")
    assert status_of(p, GLUCOSE) == "conditional"  # no BMI: applies if overweight
    p.obs("39156-5", 23.0, "2021-01-01")
    assert status_of(p, GLUCOSE) == "not in population"  # a recent normal BMI rules it out
    p.obs("39156-5", 28.0, "2021-03-01")
    assert status_of(p, GLUCOSE) == "due"
    p.obs("4548-4", 5.4, "2019-05-01")
    assert status_of(p, GLUCOSE) == "done"  # HbA1c within 3 years
    p.condition("Diabetes", "2020-01-01", "44054006")
    assert status_of(p, GLUCOSE) == "not in population"


def test_tobacco_cessation_needs_current_use_and_no_pregnancy() -> None:
    p = Patient("1980-01-01", "female")
    p.smoking("Never smoker", "2021-01-01")
    assert status_of(p, CESSATION) == "not in population"
    p.smoking("Current every day smoker", "2021-03-01")
    assert status_of(p, CESSATION) == "due"
    p.condition("Normal pregnancy", "2021-04-01", "72892002")
    assert status_of(p, CESSATION) == "not in population"


def test_blood_pressure_is_yearly_from_40_and_every_3_years_before() -> None:
    young, old = Patient("1995-01-01", "male"), Patient("1970-01-01", "male")
    for p in (young, old):
        p.bp(120, 80, "2019-06-01")
    assert status_of(young, BP) == "done"
    assert status_of(old, BP) == "due"


def test_depression_screening_by_phq_within_a_year() -> None:
    p = Patient("1980-01-01", "male")
    p.obs("44261-6", 3, "2020-12-01", unit="{score}")
    assert status_of(p, DEPRESSION) == "done"
    assert status_of(p, DEPRESSION, date(2022, 1, 1)) == "due"


def test_a_population_no_code_confirms_stays_conditional_and_names_what_to_confirm() -> None:
    p = Patient("1970-01-01", "male")
    (s,) = preventive_status(p.events, [STATIN], as_of=AS_OF)
    assert s.status == "conditional" and "10-year CVD risk" in s.missing[0]
    assert due_services(p.events, [STATIN], as_of=AS_OF) == []


def test_every_service_a_rule_names_exists() -> None:
    assert {k for r in RULES for k in r.services} <= set(SERVICES)


def test_every_grade_a_or_b_record_of_the_real_set_has_a_rule(shared_data: Path) -> None:
    raw = (shared_data / "uspstf" / "uspstf-recommendations.json").read_text(encoding="utf-8")
    recs = recommendations_from_json(json.loads(raw))
    missing = [r.title for r in recs if r.grade in "AB" and not any(rule.names(r) for rule in RULES)]
    assert missing == []


def test_agent_care_gaps_still_exports_the_eligibility_api() -> None:
    from agent import care_gaps

    assert care_gaps.Recommendation is Recommendation
    assert callable(care_gaps.care_gaps) and callable(care_gaps.risk_factors_from_summary)
