"""eGFR by the race-free CKD-EPI 2021 creatinine equation, recomputed from the record.

Equation (Inker et al., NEJM 2021)::

    eGFR = 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age [x 1.012 if female]
    k = 0.7 (female) / 0.9 (male);  a = -0.241 (female) / -0.302 (male)

with serum creatinine ``Scr`` in mg/dL and age in years (adults, 18 and over). The equation is
sex-specific, so a sex other than male or female gives ``insufficient data``.

:func:`egfr_series` is the eGFR history the kidney rules share: each creatinine value
recomputed at the age on its day, and a laboratory-reported eGFR only on a day without a
creatinine (it may come from an older equation; it is then named as reported).
"""

from __future__ import annotations

from dataclasses import dataclass

from assessments.model import Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import EGFR_CODES, Point

__all__ = ["CREATININE_CODES", "EgfrValue", "assess_egfr", "ckd_epi_2021", "egfr_series"]

CREATININE_CODES = ("2160-0", "38483-4")
_ID, _NAME = "egfr_ckd_epi_2021", "eGFR (CKD-EPI 2021)"
_UNIT = "mL/min/1.73m2"


def ckd_epi_2021(creatinine_mg_dl: float, age: float, female: bool) -> float:
    """eGFR in mL/min/1.73 m2 from serum creatinine (mg/dL), age (years) and sex, race-free.

    Raises:
        ValueError: for a creatinine that is not positive or an age under 18.
    """
    if creatinine_mg_dl <= 0:
        raise ValueError(f"creatinine must be positive, got {creatinine_mg_dl}")
    if age < 18:
        raise ValueError(f"CKD-EPI 2021 is an adult equation (age {age} < 18)")
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    value = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age
    return value * 1.012 if female else value


@dataclass(frozen=True)
class EgfrValue:
    """One eGFR of the patient's history and what it rests on."""

    point: Point  # value = eGFR; event_id = the creatinine (or reported eGFR) event
    method: str  # "CKD-EPI 2021" (recomputed) or "reported"
    inputs: tuple[Input, ...]


def _recomputed(rec: Record, p: Point) -> EgfrValue | None:
    age = rec.age_at(p.day)
    if age is None or age < 18 or rec.sex not in ("male", "female") or p.value <= 0:
        return None
    value = ckd_epi_2021(p.value, age, rec.sex == "female")
    point = Point(value, p.day, p.instant, p.event_id, p.code, "eGFR (CKD-EPI 2021)", _UNIT)
    return EgfrValue(point, "CKD-EPI 2021", (point_input("creatinine", p), rec.age_input(p.day)))


def egfr_series(rec: Record) -> list[EgfrValue]:
    """The patient's eGFR history, oldest first: recomputed from creatinine, else as reported."""
    return rec.memo("egfr_series", lambda: _egfr_series(rec))


def _egfr_series(rec: Record) -> list[EgfrValue]:
    by_day: dict[object, EgfrValue] = {}
    for p in rec.series(CREATININE_CODES):
        v = _recomputed(rec, p)
        if v is not None:
            by_day[p.day] = v  # the last creatinine of a day stands for that day
    for p in rec.series(EGFR_CODES):
        if p.day not in by_day:
            by_day[p.day] = EgfrValue(p, "reported", (point_input("eGFR (reported)", p),))
    return sorted(by_day.values(), key=lambda v: (v.point.instant, v.point.event_id))


def assess_egfr(rec: Record) -> Assessment:
    """CKD-EPI 2021 eGFR from the latest creatinine (stale after 12 months)."""
    source = SOURCES[_ID]
    creat = rec.latest(CREATININE_CODES, "creatinine")
    inputs = [rec.age_input(), rec.sex_input()]
    missing = []
    if creat is None:
        missing.append("serum creatinine (none in the last 12 months)")
    if rec.born is None:
        missing.append("date of birth")
    if rec.sex not in ("male", "female"):
        missing.append("sex (male or female; the equation is sex-specific)")
    if missing:
        return insufficient(_ID, _NAME, source, missing, inputs)
    assert creat is not None
    age = rec.age_at(creat.day)
    if age is None or age < 18:
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"CKD-EPI 2021 is an adult equation; age {age} on {creat.day} (children: CKiD U25).",
            source,
            (point_input("creatinine", creat), rec.age_input(creat.day)),
        )
    value = round(ckd_epi_2021(creat.value, age, rec.sex == "female"), 1)
    inputs = [point_input("creatinine", creat), rec.age_input(creat.day), rec.sex_input()]
    statement = (
        f"eGFR {fmt(value, 0)} {_UNIT} by CKD-EPI 2021 (creatinine {fmt(creat.value, 2)} mg/dL on "
        f"{creat.day}, age {age}, {rec.sex})."
    )
    details: dict[str, object] = {"equation": "CKD-EPI 2021 creatinine, race-free"}
    reported = [p for p in rec.series(EGFR_CODES) if p.day == creat.day]
    if reported:
        r = reported[-1]
        details["reported_egfr"] = r.value
        inputs.append(point_input("eGFR (reported)", r))
        if abs(r.value - value) > max(5.0, 0.1 * value):
            statement += (
                f" The laboratory reported {fmt(r.value, 0)} that day (another equation or rounding)."
            )
    return Assessment(
        _ID, _NAME, f"{fmt(value, 0)} {_UNIT}", statement, source, tuple(inputs), (), value, _UNIT, details
    )
