"""AHA PREVENT (2023) base model: 10-year risk of total cardiovascular disease.

Total CVD is ASCVD plus heart failure; the 10-year ASCVD risk of the same base model is given
in ``details``. Logistic models, sex-specific, race-free (Khan et al., Circulation 2024), with
the published base-model terms: age (per 10 years from 55), non-HDL and HDL cholesterol in
mmol/L, systolic BP splined at 110 mmHg, diabetes, current smoking, eGFR splined at 60,
antihypertensive and statin use, and their interactions with age and treatment.

Inputs from the record: age (30-79), sex, total and HDL cholesterol (5 years), the latest
systolic BP (12 months), eGFR (:func:`assessments.kidney.latest_egfr`: CKD-EPI 2021, 12
months), diabetes (a diabetes problem on record), current smoking
(:func:`assessments.smoking.current_smoker`), an active antihypertensive and an active statin.
Values outside the equations' ranges (TC 130-320, HDL 20-100 mg/dL, SBP 90-200 mmHg, eGFR
15-150) and known CVD (ASCVD or heart failure) make the verdict ``not applicable``. PREVENT
has no guideline risk categories yet, so the verdict is the rounded risk itself ("14.7 %").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assessments.conditions import ANTIHYPERTENSIVE, ASCVD, DIABETES, HEART_FAILURE, STATIN
from assessments.kidney import latest_egfr
from assessments.model import Assessment, Input
from assessments.pce import HDL_CODES, SBP_CODES, TC_CODES
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.smoking import current_smoker
from assessments.sources import SOURCES

__all__ = ["PreventInputs", "assess_prevent", "prevent_10y"]

_ID, _NAME = "prevent_10y", "10-year total CVD risk (AHA PREVENT, base model)"
_MMOL = 0.02586  # mg/dL cholesterol -> mmol/L, as in the published equations


@dataclass(frozen=True)
class PreventInputs:
    """The base model's inputs in conventional units (mg/dL, mmHg, mL/min/1.73 m2)."""

    age: float
    female: bool
    total_cholesterol: float
    hdl: float
    systolic: float
    diabetic: bool
    smoker: bool
    egfr: float
    antihypertensive: bool
    statin: bool


# Term order: age, non-HDL, HDL, SBP<110, SBP>=110, diabetes, smoker, eGFR<60, eGFR>=60, antihtn,
# statin, SBP x antihtn, non-HDL x statin, age x non-HDL, age x HDL, age x SBP, age x diabetes,
# age x smoker, age x eGFR<60, constant.  Khan SS et al., Circulation 2024 (base model, 10 years).
_COEF: dict[tuple[str, bool], tuple[float, ...]] = {
    ("cvd", True): (0.7939329, 0.0305239, -0.1606857, -0.2394003, 0.3600781, 0.8667604, 0.5360739,
                    0.6045917, 0.0433769, 0.3151672, -0.1477655, -0.0663612, 0.1197879, -0.0819715,
                    0.0306769, -0.0946348, -0.27057, -0.078715, -0.1637806, -3.307728),
    ("cvd", False): (0.7688528, 0.0736174, -0.0954431, -0.4347345, 0.3362658, 0.7692857, 0.4386871,
                     0.5378979, 0.0164827, 0.288879, -0.1337349, -0.0475924, 0.150273, -0.0517874,
                     0.0191169, -0.1049477, -0.2251948, -0.0895067, -0.1543702, -3.031168),
    ("ascvd", True): (0.719883, 0.1176967, -0.151185, -0.0835358, 0.3592852, 0.8348585, 0.4831078,
                      0.4864619, 0.0397779, 0.2265309, -0.0592374, -0.0395762, 0.0844423, -0.0567839,
                      0.0325692, -0.1035985, -0.2417542, -0.0791142, -0.1671492, -3.819975),
    ("ascvd", False): (0.7099847, 0.1658663, -0.1144285, -0.2837212, 0.3239977, 0.7189597, 0.3956973,
                       0.3690075, 0.0203619, 0.2036522, -0.0865581, -0.0322916, 0.114563, -0.0300005,
                       0.0232747, -0.0927024, -0.2018525, -0.0970527, -0.1217081, -3.500655),
}  # fmt: skip


def prevent_10y(x: PreventInputs, outcome: str = "cvd") -> float:
    """10-year risk (%) of ``outcome`` ("cvd" total CVD, or "ascvd") by the PREVENT base model."""
    c = _COEF[(outcome, x.female)]
    age = (x.age - 55) / 10
    non_hdl = (x.total_cholesterol - x.hdl) * _MMOL - 3.5
    hdl = (x.hdl * _MMOL - 1.3) / 0.3
    sbp_low = (min(x.systolic, 110) - 110) / 20
    sbp_high = (max(x.systolic, 110) - 130) / 20
    egfr_low = (min(x.egfr, 60) - 60) / -15
    egfr_high = (max(x.egfr, 60) - 90) / -15
    dm, smk, htn, sta = (float(v) for v in (x.diabetic, x.smoker, x.antihypertensive, x.statin))
    terms = (age, non_hdl, hdl, sbp_low, sbp_high, dm, smk, egfr_low, egfr_high, htn, sta,
             sbp_high * htn, non_hdl * sta, age * non_hdl, age * hdl, age * sbp_high, age * dm,
             age * smk, age * egfr_low, 1.0)  # fmt: skip
    logit = sum(b * t for b, t in zip(c, terms, strict=True))
    return 100.0 / (1.0 + math.exp(-logit))


def _out_of_range(x: PreventInputs) -> list[str]:
    checks = (("total cholesterol", x.total_cholesterol, 130, 320), ("HDL", x.hdl, 20, 100),
              ("systolic BP", x.systolic, 90, 200), ("eGFR", x.egfr, 15, 150))  # fmt: skip
    return [f"{n} {fmt(v, 0)} outside {lo}-{hi}" for n, v, lo, hi in checks if not lo <= v <= hi]


def assess_prevent(rec: Record) -> Assessment:
    """PREVENT base-model 10-year total CVD risk from the record."""
    source = SOURCES[_ID]
    known = ASCVD.select(rec.conditions) + HEART_FAILURE.select(rec.conditions)
    if known:
        e = known[0]
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: known CVD ({str(e.get('display')).lower()} since {str(e.get('date'))[:10]}); "
            "PREVENT estimates risk in people without CVD.",
            source,
            (Input("known CVD", True, "", str(e.get("date"))[:10], (str(e.get("event_id")),)),),
        )
    age = rec.age
    if age is not None and not 30 <= age <= 79:  # outside the population: nothing to measure
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: PREVENT is for ages 30-79 (age {age}).",
            source,
            (rec.age_input(),),
        )
    tc, hdl = rec.latest(TC_CODES, "lipids"), rec.latest(HDL_CODES, "lipids")
    sbp = rec.latest(SBP_CODES, "bp_latest")
    egfr = latest_egfr(rec)
    smoking = current_smoker(rec)
    missing = [
        text
        for text, absent in (
            ("date of birth", age is None),
            ("sex (male or female)", rec.sex not in ("male", "female")),
            ("total cholesterol (none in the last 5 years)", tc is None),
            ("HDL cholesterol (none in the last 5 years)", hdl is None),
            ("systolic blood pressure (none in the last 12 months)", sbp is None),
            ("serum creatinine or eGFR (none in the last 12 months)", egfr is None),
            ("tobacco smoking status (none in the last 3 years)", smoking is None),
        )
        if absent
    ]
    if missing:
        return insufficient(_ID, _NAME, source, missing, [rec.age_input(), rec.sex_input()])
    assert age is not None and tc and hdl and sbp and egfr and smoking
    meds, statins = ANTIHYPERTENSIVE.select(rec.medications), STATIN.select(rec.medications)
    diabetes = DIABETES.select(rec.conditions)
    x = PreventInputs(float(age), rec.sex == "female", tc.value, hdl.value, sbp.value, bool(diabetes),
                      smoking.value is True, egfr.point.value, bool(meds), bool(statins))  # fmt: skip
    e = egfr.point
    inputs = (
        rec.age_input(), rec.sex_input(), point_input("total cholesterol", tc), point_input("HDL cholesterol", hdl),
        point_input("systolic BP", sbp),
        Input("eGFR", round(e.value, 1), "mL/min/1.73m2", e.day.isoformat(), (e.event_id,)),
        Input("diabetes", bool(diabetes), "", str(diabetes[0].get("date"))[:10] if diabetes else None,
              tuple(str(d.get("event_id")) for d in diabetes[:1])),
        smoking,
        Input("antihypertensive", bool(meds), "", meds[0].get("since") if meds else None,
              tuple(c for m in meds[:1] for c in m.get("cite", ()))),
        Input("statin", bool(statins), "", statins[0].get("since") if statins else None,
              tuple(c for m in statins[:1] for c in m.get("cite", ()))),
    )  # fmt: skip
    if outside := _out_of_range(x):
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: {'; '.join(outside)} (the equations' ranges).",
            source,
            inputs,
        )
    cvd, ascvd = round(prevent_10y(x, "cvd"), 1), round(prevent_10y(x, "ascvd"), 1)
    statement = (
        f"10-year total CVD risk {fmt(cvd)} % (PREVENT base model; ASCVD {fmt(ascvd)} %): age {age}, {rec.sex}, "
        f"TC {fmt(tc.value, 0)}, HDL {fmt(hdl.value, 0)}, SBP {fmt(sbp.value, 0)}, eGFR {fmt(e.value, 0)}."
    )
    return Assessment(
        _ID,
        _NAME,
        f"{fmt(cvd)} %",
        statement,
        source,
        inputs,
        (),
        cvd,
        "%",
        {"outcome": "total CVD (ASCVD + heart failure)", "ascvd_10y_pct": ascvd},
    )
