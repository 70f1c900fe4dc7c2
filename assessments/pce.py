"""10-year risk of a first hard ASCVD event by the 2013 ACC/AHA Pooled Cohort Equations.

Risk = 1 - S10 ^ exp(sum(coef x term) - mean), with the race- and sex-specific coefficients,
baseline survival S10 and mean of Goff et al. 2013 (Table A). Terms are ln(age), ln(total
cholesterol), ln(HDL-C), ln(systolic BP) treated or untreated, current smoking and diabetes,
with the published interactions.

Inputs read from the record: age (40-79, the validated range; outside it the verdict is
``not applicable``), sex, the latest total cholesterol and HDL-C (5 years), the latest systolic
BP (12 months), treatment for hypertension (an active antihypertensive medication), current
smoking (the latest tobacco smoking status Observation, 3 years, or an active "smokes tobacco"
problem) and diabetes (a diabetes problem on record). Race is the US Core race category on the
Patient: "Black or African American" takes the African American equations; any other or an
unrecorded race takes the white equations, as the guideline advises for other groups, and
the statement says which. Clinical ASCVD makes the equations inapplicable (they predict a
first event). A value outside the ASCVD Risk Estimator's ranges (TC 130-320, HDL 20-100 mg/dL,
SBP 90-200 mmHg) is used as recorded and named in the statement as a caution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assessments.conditions import ANTIHYPERTENSIVE, ASCVD, DIABETES
from assessments.model import Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.smoking import current_smoker
from assessments.sources import SOURCES

__all__ = ["PceInputs", "assess_pce", "pce_category", "pooled_cohort_risk"]

_ID, _NAME = "ascvd_pce_10y", "10-year ASCVD risk (Pooled Cohort Equations)"
TC_CODES, HDL_CODES, SBP_CODES = ("2093-3",), ("2085-9",), ("8480-6",)
_AFRICAN_AMERICAN = frozenset({"black or african american", "black", "african american"})


@dataclass(frozen=True)
class _Coef:
    ln_age: float
    ln_age_sq: float
    ln_tc: float
    ln_age_ln_tc: float
    ln_hdl: float
    ln_age_ln_hdl: float
    ln_sbp_treated: float
    ln_age_ln_sbp_treated: float
    ln_sbp_untreated: float
    ln_age_ln_sbp_untreated: float
    smoker: float
    ln_age_smoker: float
    diabetes: float
    s10: float
    mean: float


# Goff DC Jr et al., Circulation 2014;129:S49-73, Table A.
_COEF: dict[tuple[str, bool], _Coef] = {
    ("female", False): _Coef(
        -29.799,
        4.884,
        13.540,
        -3.114,
        -13.578,
        3.149,
        2.019,
        0.0,
        1.957,
        0.0,
        7.574,
        -1.665,
        0.661,
        0.9665,
        -29.18,
    ),
    ("female", True): _Coef(
        17.114,
        0.0,
        0.940,
        0.0,
        -18.920,
        4.475,
        29.291,
        -6.432,
        27.820,
        -6.087,
        0.691,
        0.0,
        0.874,
        0.9533,
        86.61,
    ),
    ("male", False): _Coef(
        12.344,
        0.0,
        11.853,
        -2.664,
        -7.990,
        1.769,
        1.797,
        0.0,
        1.764,
        0.0,
        7.837,
        -1.795,
        0.658,
        0.9144,
        61.18,
    ),
    ("male", True): _Coef(
        2.469, 0.0, 0.302, 0.0, -0.307, 0.0, 1.916, 0.0, 1.809, 0.0, 0.549, 0.0, 0.645, 0.8954, 19.54
    ),
}


@dataclass(frozen=True)
class PceInputs:
    """The equation's inputs in its own units (mg/dL, mmHg, years)."""

    age: float
    female: bool
    total_cholesterol: float
    hdl: float
    systolic: float
    treated: bool
    smoker: bool
    diabetic: bool
    african_american: bool = False


def pooled_cohort_risk(x: PceInputs) -> float:
    """10-year risk of a first hard ASCVD event, as a percentage (0-100)."""
    c = _COEF[("female" if x.female else "male", x.african_american)]
    la, ltc, lhdl, lsbp = (
        math.log(x.age),
        math.log(x.total_cholesterol),
        math.log(x.hdl),
        math.log(x.systolic),
    )
    total = (
        c.ln_age * la
        + c.ln_age_sq * la * la
        + c.ln_tc * ltc
        + c.ln_age_ln_tc * la * ltc
        + c.ln_hdl * lhdl
        + c.ln_age_ln_hdl * la * lhdl
        + (c.ln_sbp_treated * lsbp + c.ln_age_ln_sbp_treated * la * lsbp if x.treated else 0.0)
        + (c.ln_sbp_untreated * lsbp + c.ln_age_ln_sbp_untreated * la * lsbp if not x.treated else 0.0)
        + (c.smoker + c.ln_age_smoker * la if x.smoker else 0.0)
        + (c.diabetes if x.diabetic else 0.0)
    )
    return 100.0 * (1.0 - c.s10 ** math.exp(total - c.mean))


def pce_category(risk_pct: float) -> str:
    """The 2018 ACC/AHA risk category: low < 5, borderline 5-7.4, intermediate 7.5-19.9, high >= 20."""
    if risk_pct < 5:
        return "low"
    if risk_pct < 7.5:
        return "borderline"
    return "intermediate" if risk_pct < 20 else "high"


def assess_pce(rec: Record) -> Assessment:
    """PCE 10-year ASCVD risk from the record (see the module docstring for each input)."""
    source = SOURCES[_ID]
    ascvd = ASCVD.select(rec.conditions)
    if ascvd:
        first = ascvd[0]
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: clinical ASCVD ({first.get('display')} since {str(first.get('date'))[:10]}); "
            "the equations estimate a first event.",
            source,
            (Input("clinical ASCVD", True, "", str(first.get("date"))[:10], (str(first.get("event_id")),)),),
        )
    age = rec.age
    tc = rec.latest(TC_CODES, "lipids")
    hdl = rec.latest(HDL_CODES, "lipids")
    sbp = rec.latest(SBP_CODES, "bp_latest")
    smoking = current_smoker(rec)
    if age is not None and not 40 <= age <= 79:  # outside the population: nothing to measure
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: the Pooled Cohort Equations are validated for ages 40-79 (age {age}).",
            source,
            (rec.age_input(),),
        )
    missing = []
    if age is None:
        missing.append("date of birth")
    if rec.sex not in ("male", "female"):
        missing.append("sex (male or female)")
    if tc is None:
        missing.append("total cholesterol (none in the last 5 years)")
    if hdl is None:
        missing.append("HDL cholesterol (none in the last 5 years)")
    if sbp is None:
        missing.append("systolic blood pressure (none in the last 12 months)")
    if smoking is None:
        missing.append("tobacco smoking status (none in the last 3 years)")
    if missing:
        return insufficient(_ID, _NAME, source, missing, [rec.age_input(), rec.sex_input()])
    assert age is not None and tc is not None and hdl is not None and sbp is not None and smoking is not None
    meds = ANTIHYPERTENSIVE.select(rec.medications)
    diabetes = DIABETES.select(rec.conditions)
    black = rec.race.strip().lower() in _AFRICAN_AMERICAN
    x = PceInputs(
        float(age),
        rec.sex == "female",
        tc.value,
        hdl.value,
        sbp.value,
        bool(meds),
        smoking.value is True,
        bool(diabetes),
        black,
    )
    risk = round(pooled_cohort_risk(x), 1)
    inputs = [
        rec.age_input(),
        rec.sex_input(),
        rec.race_input(),
        point_input("total cholesterol", tc),
        point_input("HDL cholesterol", hdl),
        point_input("systolic BP", sbp),
        Input(
            "antihypertensive treatment",
            bool(meds),
            "",
            meds[0].get("since") if meds else None,
            tuple(e for m in meds for e in m.get("cite", ())),
        ),
        smoking,
        Input(
            "diabetes",
            bool(diabetes),
            "",
            str(diabetes[0].get("date"))[:10] if diabetes else None,
            tuple(str(e.get("event_id")) for e in diabetes[:1]),
        ),
    ]
    cat = pce_category(risk)
    equations = (
        "African American equations"
        if black
        else f"white/other equations (race {rec.race})"
        if rec.race
        else "race not recorded, white/other equations used"
    )
    statement = (
        f"10-year ASCVD risk {fmt(risk)} % ({cat}) by the Pooled Cohort Equations: age {age}, {rec.sex}, "
        f"TC {fmt(tc.value, 0)}, HDL {fmt(hdl.value, 0)} mg/dL, SBP {fmt(sbp.value, 0)} "
        f"{'treated' if meds else 'untreated'}, {'smoker' if x.smoker else 'non-smoker'}, "
        f"{'diabetes' if diabetes else 'no diabetes'}; {equations}."
    )
    outside = [
        f"{label} {fmt(v, 0)} outside {lo}-{hi}"
        for label, v, lo, hi in (
            ("TC", tc.value, 130, 320),
            ("HDL", hdl.value, 20, 100),
            ("SBP", sbp.value, 90, 200),
        )
        if not lo <= v <= hi
    ]
    if outside:
        statement += f" {'; '.join(outside)} (the estimator's ranges): interpret with caution."
    return Assessment(
        _ID,
        _NAME,
        cat,
        statement,
        source,
        tuple(inputs),
        (),
        risk,
        "%",
        {"equations": "African American" if black else "white/other", "risk_category": cat},
    )
