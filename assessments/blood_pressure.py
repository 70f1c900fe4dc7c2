"""Office BP category and the drug-treatment threshold, by the 2017 ACC/AHA guideline.

``bp_category`` classifies the mean of the readings at the last two visits (a visit is a day
with a systolic and a diastolic reading; several readings of one day are averaged first, then
the two days; the mean is rounded half up to whole mmHg, as charted). The latest visit must be within 12 months of ``as_of`` and the earlier within
24 months; one visit is not enough (the guideline averages >= 2 readings on >= 2 occasions).
Categories (the higher of the systolic and diastolic ones decides): normal < 120 and < 80;
elevated 120-129 and < 80; stage 1 130-139 or 80-89; stage 2 >= 140 or >= 90; severe > 180 or
> 120 (hypertensive urgency or emergency). Adults only (children are classed by percentiles).

``bp_treatment`` (its source is the passage of the branch taken): antihypertensive drugs are
indicated at stage 2 (and severe); at stage 1 when
clinical CVD is on record, the PCE 10-year risk is >= 10 %, diabetes or CKD (G3a-G5, chronic)
is present, or the patient is 65 or older with a mean systolic >= 130 (the guideline's
high-risk groups with a < 130/80 target); otherwise lifestyle therapy and
reassessment in 3-6 months. A patient already on an antihypertensive at stage 1 or above is
above the < 130/80 target: intensification is indicated.
"""

from __future__ import annotations

import math
from datetime import date

from assessments.conditions import ANTIHYPERTENSIVE, DIABETES
from assessments.model import INSUFFICIENT, Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import DBP_CODES, SBP_CODES, Point

__all__ = ["assess_bp_category", "assess_bp_treatment", "bp_category", "last_two_visits"]

_NAME = "BP category (ACC/AHA 2017)"
_ORDER = ("normal", "elevated", "stage 1", "stage 2", "severe")


def bp_category(systolic: float, diastolic: float) -> str:
    """ACC/AHA 2017 category of one (mean) reading, by the higher of its two components."""
    if systolic > 180 or diastolic > 120:
        return "severe"
    if systolic >= 140 or diastolic >= 90:
        return "stage 2"
    if systolic >= 130 or diastolic >= 80:
        return "stage 1"
    return "elevated" if systolic >= 120 else "normal"


def _by_day(points: list[Point]) -> dict[date, list[Point]]:
    days: dict[date, list[Point]] = {}
    for p in points:
        days.setdefault(p.day, []).append(p)
    return days


def last_two_visits(rec: Record) -> list[tuple[date, float, float, list[Point]]]:
    """The last two days with both readings: (day, mean systolic, mean diastolic, readings)."""
    s_days, d_days = _by_day(rec.series(SBP_CODES)), _by_day(rec.series(DBP_CODES))
    both = sorted(set(s_days) & set(d_days))[-2:]
    return [
        (
            d,
            sum(p.value for p in s_days[d]) / len(s_days[d]),
            sum(p.value for p in d_days[d]) / len(d_days[d]),
            s_days[d] + d_days[d],
        )
        for d in both
    ]


def assess_bp_category(rec: Record) -> Assessment:
    """BP category of the mean of the last two visits (see the module docstring)."""
    visits = last_two_visits(rec)
    need = "office BP at two visits (the latest within 12 months, the earlier within 24 months)"
    usable = (
        len(visits) == 2 and rec.fresh(visits[1][0], "bp_latest") and rec.fresh(visits[0][0], "bp_earlier")
    )
    if not usable:
        inputs = [point_input("BP reading", p) for v in visits for p in v[3]]
        return insufficient("bp_category", _NAME, SOURCES["bp_category"], [need], inputs)
    # mmHg are charted whole: classify the mean rounded half up, as it is shown
    systolic = math.floor(sum(v[1] for v in visits) / 2 + 0.5)
    diastolic = math.floor(sum(v[2] for v in visits) / 2 + 0.5)
    age = rec.age_at(visits[1][0])
    inputs = [
        point_input("systolic BP" if p.code in SBP_CODES else "diastolic BP", p) for v in visits for p in v[3]
    ]
    if age is not None and age < 18:
        return Assessment(
            "bp_category",
            _NAME,
            "not applicable",
            f"Not applicable: adult categories; age {age} (children are classed by BP percentiles).",
            SOURCES["bp_category"],
            tuple(inputs),
        )
    cat = bp_category(systolic, diastolic)
    label = {
        "stage 1": "stage 1 hypertension",
        "stage 2": "stage 2 hypertension",
        "severe": "severe (> 180/120: assess for hypertensive emergency)",
    }.get(cat, cat)
    statement = (
        f"BP {label}: mean {fmt(systolic, 0)}/{fmt(diastolic, 0)} mmHg of the visits on {visits[0][0]} "
        f"({fmt(visits[0][1], 0)}/{fmt(visits[0][2], 0)}) and {visits[1][0]} ({fmt(visits[1][1], 0)}/"
        f"{fmt(visits[1][2], 0)})."
    )
    return Assessment(
        "bp_category",
        _NAME,
        cat,
        statement,
        SOURCES["bp_severe" if cat == "severe" else "bp_category"],
        tuple(inputs),
        (),
        None,
        None,
        {"mean_systolic": systolic, "mean_diastolic": diastolic, "unit": "mmHg"},
    )


def assess_bp_treatment(
    rec: Record, category: Assessment, pce: Assessment, ckd_stage: Assessment, ascvd: list[dict[str, object]]
) -> Assessment:
    """Whether antihypertensive drug therapy is indicated now, from the other assessments."""
    name, source = "BP drug treatment threshold (ACC/AHA 2017)", SOURCES["bp_treatment"]
    if category.verdict == INSUFFICIENT:
        return insufficient("bp_treatment", name, source, category.missing, category.inputs)
    cat = category.verdict
    if cat == "not applicable":
        return Assessment("bp_treatment", name, "not applicable", category.statement, source, category.inputs)
    meds = ANTIHYPERTENSIVE.select(rec.medications)
    on = f" On {meds[0].get('display')}: above the < 130/80 target, intensify." if meds else ""
    mean = f"{fmt(category.details['mean_systolic'], 0)}/{fmt(category.details['mean_diastolic'], 0)}"
    cat_in = Input("BP category", cat, "mmHg", category.inputs[-1].date, tuple(category.event_ids))
    inputs = [cat_in] + [
        Input("antihypertensive", str(m.get("display")), "", m.get("since"), tuple(m.get("cite") or ()))
        for m in meds[:1]
    ]
    if cat in ("stage 2", "severe"):
        verdict = "indicated"
        text = f"Antihypertensive drug therapy indicated: {cat} ({mean} mmHg); 2 first-line agents of different classes."
        return Assessment(
            "bp_treatment", name, verdict, text + on, SOURCES["bp_treatment_stage2"], tuple(inputs)
        )
    if cat in ("normal", "elevated"):
        text = f"Drug therapy not indicated: BP {cat} ({mean} mmHg); lifestyle therapy."
        if meds:
            text = f"BP {cat} ({mean} mmHg) on {meds[0].get('display')}: at target (< 130/80)."
        return Assessment(
            "bp_treatment", name, "not indicated", text, SOURCES["bp_treatment_lifestyle"], tuple(inputs)
        )
    # stage 1: the risk decides
    high_risk = []
    if ascvd:
        high_risk.append(f"clinical CVD ({str(ascvd[0].get('display')).lower()})")
    if DIABETES.select(rec.conditions):
        high_risk.append("diabetes")
    if ckd_stage.verdict in ("G3a", "G3b", "G4", "G5") and ckd_stage.details.get("chronic"):
        high_risk.append(f"CKD {ckd_stage.verdict}")
    age = rec.age
    older = age is not None and age >= 65 and float(category.details["mean_systolic"]) >= 130
    if older:
        high_risk.append(f"age {age} (>= 65) with systolic >= 130")
    if pce.value is not None and pce.value >= 10:
        high_risk.append(f"10-year ASCVD risk {fmt(pce.value)} % (>= 10 %)")
        inputs.append(Input("10-year ASCVD risk (PCE)", pce.value, "%", None, tuple(pce.event_ids)))
    if high_risk:
        text = f"Antihypertensive drug therapy indicated: stage 1 ({mean} mmHg) with {', '.join(high_risk)}."
        if older and len(high_risk) == 1:
            source = SOURCES["bp_treatment_older"]
        return Assessment("bp_treatment", name, "indicated", text + on, source, tuple(inputs))
    if pce.verdict == INSUFFICIENT and not meds:
        return insufficient(
            "bp_treatment",
            name,
            source,
            list(pce.missing) or ["10-year ASCVD risk inputs"],
            inputs,
            f"stage 1 ({mean} mmHg): the decision needs the 10-year ASCVD risk, which could not be computed",
        )
    if meds:
        return Assessment(
            "bp_treatment", name, "indicated", f"Stage 1 ({mean} mmHg).{on}", source, tuple(inputs)
        )
    risk = (
        f"10-year ASCVD risk {fmt(pce.value)} % (< 10 %)"
        if pce.value is not None
        else f"the PCE do not apply at age {age} (clinical judgement)"
    )
    return Assessment(
        "bp_treatment",
        name,
        "not indicated",
        f"Drug therapy not yet indicated: stage 1 ({mean} mmHg), no clinical CVD, {risk}; lifestyle "
        "therapy, reassess in 3-6 months, treat if >= 140/90.",
        source,
        tuple(inputs),
    )
