"""Each score's equation against published worked examples, and each category's cut-offs at their edges.

Published values used:

* PCE: Goff et al. 2013, Table A worked example (55 years, TC 213, HDL 50, untreated SBP 120,
  non-smoker, no diabetes): white women 2.1 %, African American women 3.0 %, white men 5.3 %,
  African American men 6.1 %. The paper rounds its intermediate sums, so a 0.1 point margin.
  Also the same profile at SBP 140 as the ACC/AHA risk estimator reports it (2.76, 5.08, 7.01, 7.95 %).
* PREVENT: the example of the PREVENT publication's calculator documentation (woman, 50, TC 200,
  HDL 45, SBP 160 treated, diabetes, non-smoker, eGFR 90, BMI 35): 10-year total CVD 14.7 %,
  ASCVD 9.2 %.
* KFRE: the non-North-American (recalibrated) examples of the kfre documentation (57.28-year-old
  woman, eGFR 15, ACR 1762 mg/g: 44.66 % at 2 years, 89.89 % at 5; 65-year-old man, eGFR 19,
  ACR 30: 6.3123 % / 22.3128 %), and the North American baseline from the same equation.
* CKD-EPI 2021: at creatinine = kappa the equation reduces to 142 x 0.9938^age (x 1.012 for
  women); a few values worked by hand from the published equation (no calculator output was
  available offline to quote, so these check the arithmetic, not an outside source).
"""

from __future__ import annotations

import math

import pytest

from assessments.blood_pressure import bp_category
from assessments.bmi import bmi_class
from assessments.cha2ds2_vasc import cha2ds2_vasc, oac_advice
from assessments.egfr import ckd_epi_2021
from assessments.fib4 import fib4, fib4_category
from assessments.glycemic import hba1c_status
from assessments.kfre import kfre_4var
from assessments.kidney import albuminuria_category, g_category
from assessments.news2 import news2_points, news2_risk
from assessments.pce import PceInputs, pce_category, pooled_cohort_risk
from assessments.prevent import PreventInputs, prevent_10y


@pytest.mark.parametrize(
    ("female", "african_american", "sbp", "published"),
    [
        (True, False, 120, 2.1),
        (True, True, 120, 3.0),
        (False, False, 120, 5.3),
        (False, True, 120, 6.1),
        (True, False, 140, 2.76),
        (True, True, 140, 5.08),
        (False, False, 140, 7.01),
        (False, True, 140, 7.95),
    ],
)
def test_pce_matches_the_published_examples(
    female: bool, african_american: bool, sbp: float, published: float
) -> None:
    x = PceInputs(55, female, 213, 50, sbp, False, False, False, african_american)
    margin = 0.1 if sbp == 120 else 0.006
    assert pooled_cohort_risk(x) == pytest.approx(published, abs=margin)


def test_pce_moves_the_right_way_with_each_risk_factor() -> None:
    base = PceInputs(60, False, 200, 50, 130, False, False, False)
    risk = pooled_cohort_risk(base)
    for worse in (
        PceInputs(60, False, 200, 50, 130, False, True, False),
        PceInputs(60, False, 200, 50, 130, False, False, True),
        PceInputs(60, False, 200, 50, 150, False, False, False),
        PceInputs(60, False, 240, 50, 130, False, False, False),
        PceInputs(65, False, 200, 50, 130, False, False, False),
    ):
        assert pooled_cohort_risk(worse) > risk
    assert pooled_cohort_risk(PceInputs(60, False, 200, 70, 130, False, False, False)) < risk


def test_prevent_matches_the_published_example() -> None:
    x = PreventInputs(50, True, 200, 45, 160, True, False, 90, True, False)
    assert prevent_10y(x, "cvd") == pytest.approx(14.7, abs=0.05)
    assert prevent_10y(x, "ascvd") == pytest.approx(9.2, abs=0.05)


def test_prevent_treats_statin_and_low_egfr_as_the_model_says() -> None:
    x = PreventInputs(60, False, 220, 40, 140, False, False, 90, False, False)
    low_egfr = PreventInputs(60, False, 220, 40, 140, False, False, 40, False, False)
    assert prevent_10y(low_egfr) > prevent_10y(x)
    assert 0 < prevent_10y(x) < 100


@pytest.mark.parametrize(
    ("age", "male", "egfr", "acr", "years", "north_american", "published"),
    [
        (57.28, False, 15.0, 1762.00184, 2, False, 44.66),
        (57.28, False, 15.0, 1762.00184, 5, False, 89.89),
        (65, True, 19, 30, 2, False, 6.3123),
        (65, True, 19, 30, 5, False, 22.3128),
        (70, False, 50, 35, 5, False, 0.5987),
        (75, True, 22, 40, 5, False, 15.2247),
    ],
)
def test_kfre_matches_the_published_examples(
    age: float, male: bool, egfr: float, acr: float, years: int, north_american: bool, published: float
) -> None:
    assert kfre_4var(age, male, egfr, acr, years, north_american) == pytest.approx(published, abs=0.006)


def test_kfre_north_american_baseline_is_the_published_one() -> None:
    # At the centering values the linear predictor is 0, so the risk is 1 - S0 exactly.
    age, egfr, acr = 70.36, 36.11, math.exp(5.137)
    male_fraction_free = kfre_4var(age, True, egfr, acr, 5) / 100
    x = 0.2467 * (1 - 0.5642)
    assert male_fraction_free == pytest.approx(1 - 0.9240 ** math.exp(x), rel=1e-9)
    assert kfre_4var(age, True, egfr, acr, 2) / 100 == pytest.approx(1 - 0.9750 ** math.exp(x), rel=1e-9)
    with pytest.raises(ValueError):
        kfre_4var(60, True, 30, 100, 3)


@pytest.mark.parametrize(("female", "kappa"), [(True, 0.7), (False, 0.9)])
@pytest.mark.parametrize("age", [18, 40, 65, 90])
def test_ckd_epi_2021_at_creatinine_kappa(female: bool, kappa: float, age: int) -> None:
    expected = 142 * 0.9938**age * (1.012 if female else 1.0)
    assert ckd_epi_2021(kappa, age, female) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("creatinine", "age", "female", "worked"),
    [
        (1.0, 50, False, 92),
        (1.0, 50, True, 69),
        (1.0, 60, True, 64),
        (2.0, 70, False, 35),
    ],
)
def test_ckd_epi_2021_hand_worked_values(creatinine: float, age: int, female: bool, worked: int) -> None:
    assert round(ckd_epi_2021(creatinine, age, female)) == worked


def test_ckd_epi_2021_refuses_children_and_nonsense() -> None:
    with pytest.raises(ValueError):
        ckd_epi_2021(1.0, 17, False)
    with pytest.raises(ValueError):
        ckd_epi_2021(0, 40, False)


@pytest.mark.parametrize(
    ("egfr", "cat"),
    [(120, "G1"), (90, "G1"), (89.9, "G2"), (60, "G2"), (59.9, "G3a"), (45, "G3a"), (44.9, "G3b"), (30, "G3b"),
     (29.9, "G4"), (15, "G4"), (14.9, "G5"), (5, "G5")],
)  # fmt: skip
def test_kdigo_g_categories(egfr: float, cat: str) -> None:
    assert g_category(egfr) == cat


@pytest.mark.parametrize(("acr", "cat"), [(5, "A1"), (29.9, "A1"), (30, "A2"), (300, "A2"), (300.1, "A3")])
def test_kdigo_a_categories(acr: float, cat: str) -> None:
    assert albuminuria_category(acr) == cat


@pytest.mark.parametrize(
    ("sbp", "dbp", "cat"),
    [(119, 79, "normal"), (120, 79, "elevated"), (129, 79, "elevated"), (125, 80, "stage 1"), (130, 70, "stage 1"),
     (139, 89, "stage 1"), (140, 70, "stage 2"), (118, 90, "stage 2"), (180, 120, "stage 2"), (181, 100, "severe"),
     (150, 121, "severe")],
)  # fmt: skip
def test_acc_aha_bp_categories_take_the_higher_of_the_two(sbp: float, dbp: float, cat: str) -> None:
    assert bp_category(sbp, dbp) == cat


@pytest.mark.parametrize(
    ("bmi", "cls"),
    [(18.4, "underweight"), (18.5, "normal"), (24.9, "normal"), (25, "overweight"), (29.9, "overweight"),
     (30, "obesity class I"), (35, "obesity class II"), (40, "obesity class III")],
)  # fmt: skip
def test_who_bmi_classes(bmi: float, cls: str) -> None:
    assert bmi_class(bmi) == cls


@pytest.mark.parametrize(
    ("a1c", "status"), [(5.6, "normal"), (5.7, "prediabetes"), (6.4, "prediabetes"), (6.5, "diabetes")]
)
def test_ada_hba1c_cut_offs(a1c: float, status: str) -> None:
    assert hba1c_status(a1c) == status


@pytest.mark.parametrize(("risk", "cat"), [(4.9, "low"), (5, "borderline"), (7.4, "borderline"), (7.5, "intermediate"),
                                           (19.9, "intermediate"), (20, "high")])  # fmt: skip
def test_acc_aha_2018_risk_categories(risk: float, cat: str) -> None:
    assert pce_category(risk) == cat


def test_fib4_formula_and_aasld_cut_offs() -> None:
    # Sterling 2006: age x AST / (platelets x sqrt(ALT))
    assert fib4(50, 40, 25, 200) == pytest.approx(50 * 40 / (200 * 5))
    assert fib4_category(1.29, 50) == "low risk"
    assert fib4_category(1.3, 50) == "indeterminate"
    assert fib4_category(2.67, 50) == "indeterminate"
    assert fib4_category(2.68, 50) == "high risk"
    assert fib4_category(1.9, 70) == "low risk"  # age >= 65: indeterminate starts at 2.0
    assert fib4_category(2.0, 70) == "indeterminate"


def test_cha2ds2_vasc_points_and_advice() -> None:
    assert (
        cha2ds2_vasc(
            chf=False, hypertension=False, age=50, diabetes=False, stroke=False, vascular=False, female=False
        )
        == 0
    )
    assert (
        cha2ds2_vasc(
            chf=True, hypertension=True, age=76, diabetes=True, stroke=True, vascular=True, female=True
        )
        == 9
    )
    assert (
        cha2ds2_vasc(
            chf=False, hypertension=False, age=70, diabetes=False, stroke=False, vascular=False, female=True
        )
        == 2
    )
    assert oac_advice(1, female=True).startswith("no antithrombotic")  # sex alone
    assert oac_advice(2, female=True).startswith("oral anticoagulation may be considered")
    assert oac_advice(3, female=True).startswith("oral anticoagulation recommended")
    assert oac_advice(1, female=False).startswith("oral anticoagulation may be considered")
    assert oac_advice(2, female=False).startswith("oral anticoagulation recommended")


def test_news2_scoring_table() -> None:
    normal = news2_points(16, 97, False, 120, 70, True, 37.0)
    assert sum(normal.values()) == 0 and news2_risk(normal) == "low"
    sick = news2_points(26, 90, True, 88, 135, False, 34.8)
    assert sick == {"respiration rate": 3, "SpO2": 3, "air or oxygen": 2, "systolic BP": 3, "pulse": 3,
                    "consciousness": 3, "temperature": 3}  # fmt: skip
    assert news2_risk(sick) == "high"
    one_red = news2_points(16, 97, False, 120, 70, False, 37.0)
    assert news2_risk(one_red) == "low-medium"
    medium = news2_points(22, 95, False, 105, 95, True, 38.5)  # 2 + 1 + 1 + 1 + 1 = 6
    assert sum(medium.values()) == 6 and news2_risk(medium) == "medium"
    # band edges of the RCP chart
    assert news2_points(8, 96, False, 111, 51, True, 36.1)["respiration rate"] == 3
    assert news2_points(9, 96, False, 111, 51, True, 36.1)["respiration rate"] == 1
    assert news2_points(12, 96, False, 220, 51, True, 39.1)["systolic BP"] == 3
    assert news2_points(12, 96, False, 219, 51, True, 39.1)["temperature"] == 2
