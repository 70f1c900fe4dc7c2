"""Kidney Failure Risk Equation, 4 variables: 2- and 5-year risk of kidney failure (Tangri).

Risk = 1 - S0 ^ exp(-0.2201 (age/10 - 7.036) + 0.2467 (male - 0.5642)
                    - 0.5567 (eGFR/5 - 7.222) + 0.4510 (ln ACR - 5.137))

with ACR in mg/g. Baseline survival: the published North American (non-recalibrated)
values, S0 = 0.9750 at 2 years and 0.9240 at 5 years (Tangri 2011; Tangri 2016 for North
America); the recalibrated non-North-American values 0.9832 / 0.9365 are available through
``north_american=False``. The equation is validated in CKD G3-G5 (eGFR < 60): at eGFR >= 60 the
verdict is ``not applicable``. Inputs: the latest eGFR (:func:`assessments.kidney.latest_egfr`,
12 months), the latest urine ACR (12 months), age and sex. ``value`` is the 5-year risk in %;
the verdict names the KDIGO 2024 action band of the 5-year risk (>= 5 % refer to nephrology,
3-5 % consider; the 2-year risk > 10 % suits multidisciplinary care, > 40 % planning for
kidney replacement therapy).
"""

from __future__ import annotations

import math

from assessments.kidney import acr_points, latest_egfr
from assessments.model import Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES

__all__ = ["assess_kfre", "kfre_4var"]

_ID, _NAME = "kfre", "Kidney failure risk (KFRE, 4-variable)"
_BASELINE = {True: {2: 0.9750, 5: 0.9240}, False: {2: 0.9832, 5: 0.9365}}


def kfre_4var(
    age: float, male: bool, egfr: float, acr_mg_g: float, years: int, north_american: bool = True
) -> float:
    """Risk of kidney failure within ``years`` (2 or 5), as a percentage.

    Raises:
        ValueError: for a horizon other than 2 or 5 years, or a non-positive ACR.
    """
    if years not in (2, 5):
        raise ValueError(f"the KFRE has 2- and 5-year horizons, not {years}")
    if acr_mg_g <= 0:
        raise ValueError("ACR must be positive (mg/g)")
    x = (
        -0.2201 * (age / 10 - 7.036)
        + 0.2467 * ((1.0 if male else 0.0) - 0.5642)
        - 0.5567 * (egfr / 5 - 7.222)
        + 0.4510 * (math.log(acr_mg_g) - 5.137)
    )
    return 100.0 * (1.0 - _BASELINE[north_american][years] ** math.exp(x))


def _band(five_year: float) -> str:
    if five_year >= 5:
        return "refer (5-year risk >= 5 %)"
    return "consider referral (5-year risk 3-5 %)" if five_year >= 3 else "low (5-year risk < 3 %)"


def assess_kfre(rec: Record) -> Assessment:
    """4-variable KFRE from the latest eGFR and ACR (North American baseline)."""
    source = SOURCES[_ID]
    egfr = latest_egfr(rec)
    acr = acr_points(rec)
    acr_now = acr[-1] if acr and rec.fresh(acr[-1].day, "acr") else None
    missing = []
    if egfr is None:
        missing.append("serum creatinine or eGFR (none in the last 12 months)")
    if acr_now is None:
        missing.append("urine albumin-to-creatinine ratio (ACR; none in the last 12 months)")
    if rec.born is None:
        missing.append("date of birth")
    if rec.sex not in ("male", "female"):
        missing.append("sex (male or female)")
    if missing:
        return insufficient(_ID, _NAME, source, missing, [rec.age_input(), rec.sex_input()])
    assert egfr is not None and acr_now is not None
    e = egfr.point
    inputs = (
        Input("eGFR", round(e.value, 1), "mL/min/1.73m2", e.day.isoformat(), (e.event_id,)),
        point_input("urine ACR", acr_now),
        rec.age_input(),
        rec.sex_input(),
    )
    if e.value >= 60:
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: the KFRE is validated for eGFR < 60 (eGFR {fmt(e.value, 0)} on {e.day}).",
            source,
            inputs,
        )
    age = rec.age or 0
    two = round(kfre_4var(age, rec.sex == "male", e.value, max(acr_now.value, 0.1), 2), 1)
    five = round(kfre_4var(age, rec.sex == "male", e.value, max(acr_now.value, 0.1), 5), 1)
    band = _band(five)
    statement = (
        f"Kidney failure risk {fmt(two)} % at 2 years, {fmt(five)} % at 5 years (4-variable KFRE, North "
        f"American baseline; eGFR {fmt(e.value, 0)}, ACR {fmt(acr_now.value)} mg/g, age {age}, {rec.sex}): {band}."
    )
    return Assessment(
        _ID,
        _NAME,
        band,
        statement,
        source,
        inputs,
        (),
        five,
        "%",
        {"two_year_pct": two, "five_year_pct": five, "baseline": "North American (non-recalibrated)"},
    )
