"""One patient's record summarised at a date, every fact citing the events it came from.

Pure functions over the patient's timeline events (:mod:`patient_index.model`): no store, no
I/O. The caller fetches the events of exactly one patient (isolation is enforced in the store);
a list that mixes patients is refused, never filtered here.

What counts at ``as_of``:

* only data dated on or before ``as_of``;
* a problem, medication or allergy with an end date counts while that date is after ``as_of``;
  without one, its status must be active (a resolved problem or stopped medication without an
  end date is left out at any ``as_of``, since when it ended is unknown);
* numeric values join ``latest`` and the trends only in their series' canonical unit; a value
  with a ``unit_flag`` is listed under ``unit_warnings`` instead.

Trend direction: the least-squares slope over the 3 years before ``as_of`` (at least 2 values
spanning 30 days) is "rising" or "falling" when its size reaches the series' threshold per year
below, else "stable". The thresholds are our choice of a change a clinician would notice in a
year, above measurement noise and normal ageing; they are not guideline cut-offs:

=================  =======================  ===========================================================
series             threshold per year       why
=================  =======================  ===========================================================
HbA1c              0.2 %                    under half the 0.5 % change usually called clinically relevant
glucose            5 mg/dL                  crosses the 100-125 mg/dL fasting prediabetes band in ~5 years
LDL-C, total chol  10 mg/dL                 about the assay's biological variation
eGFR               2 mL/min/1.73 m2         twice the ~1 per year decline of normal ageing
creatinine         0.1 mg/dL                about the assay's day-to-day variation
systolic BP        3 mmHg                   sustained drift beyond visit-to-visit noise
diastolic BP       2 mmHg                   as for systolic, on a smaller scale
BMI                0.5 kg/m2                about 1.5 kg a year at average height
weight             2 kg                     a gain or loss a clinician would ask about
=================  =======================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from patient_index.flags import (
    BMI_CODES,
    DBP_CODES,
    EGFR_CODES,
    HBA1C_CODES,
    LDL_CODES,
    SBP_CODES,
    Point,
    age_on,
    birth_and_death,
    clinical_time,
    comparable_points,
    early_warning_flags,
    series,
    single_patient,
    slope_per_year,
    years_before,
)
from patient_index.model import Event
from patient_index.units import canonical_unit

__all__ = ["WATCHED", "TrendSeries", "build_summary"]

_ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})
_NEVER_TAKEN = frozenset({"entered-in-error", "cancelled", "draft", "not-taken", "intended"})
_ABNORMAL_CODES = frozenset({"H", "L", "HH", "LL", "A", "AA", "HU", "LU"})
_ABNORMAL_WORDS = frozenset(
    {"high", "low", "abnormal", "critical high", "critical low", "critically abnormal"}
)
_TREND_YEARS = 3
_TREND_MIN_DAYS = 30
_SHOWN_VALUES = 5


@dataclass(frozen=True)
class TrendSeries:
    """A watched series: its primary LOINC code, the codes it gathers, and the direction threshold."""

    code: str
    display: str
    codes: tuple[str, ...]
    per_year: float  # the smallest slope per year called rising or falling (see the module docstring)


WATCHED: tuple[TrendSeries, ...] = (
    TrendSeries("4548-4", "Hemoglobin A1c", HBA1C_CODES, 0.2),
    TrendSeries("2339-0", "Glucose", ("2339-0", "2345-7"), 5.0),
    TrendSeries("18262-6", "LDL cholesterol", LDL_CODES, 10.0),
    TrendSeries("2093-3", "Total cholesterol", ("2093-3",), 10.0),
    TrendSeries("33914-3", "eGFR", EGFR_CODES, 2.0),
    TrendSeries("2160-0", "Creatinine", ("2160-0", "38483-4"), 0.1),
    TrendSeries("8480-6", "Systolic blood pressure", SBP_CODES, 3.0),
    TrendSeries("8462-4", "Diastolic blood pressure", DBP_CODES, 2.0),
    TrendSeries("39156-5", "Body mass index", BMI_CODES, 0.5),
    TrendSeries("29463-7", "Body weight", ("29463-7",), 2.0),
)


def _day(text: Any) -> date | None:
    when = clinical_time(text)
    return when[0] if when else None


def _in_force(e: Event, as_of: date, active: frozenset[str]) -> bool:
    """Started on or before ``as_of`` and not ended by then (an end date decides, else the status)."""
    start, end = _day(e.get("date")), _day(e.get("end_date"))
    if start is not None and start > as_of:
        return False
    if end is not None:
        return end > as_of
    return str(e.get("status", "")).lower() in active


def _grouped(events: Iterable[Event]) -> list[list[Event]]:
    """Entries of the same code (or, uncoded, the same display) together, each group oldest first."""
    groups: dict[tuple[str, str], list[Event]] = {}
    for e in events:
        code = str(e.get("code") or "")
        key = (str(e.get("code_system") or ""), code) if code else ("", str(e.get("display", "")).lower())
        groups.setdefault(key, []).append(e)
    out = [
        sorted(g, key=lambda e: (_day(e.get("date")) or date.max, e.get("event_id", "")))
        for g in groups.values()
    ]
    return sorted(out, key=lambda g: (_day(g[0].get("date")) or date.max, str(g[0].get("display", ""))))


def _entries(
    events: Sequence[Event], types: tuple[str, ...], as_of: date, active: frozenset[str]
) -> list[list[Event]]:
    return _grouped(e for e in events if e.get("resource_type") in types and _in_force(e, as_of, active))


def _since(group: list[Event]) -> str | None:
    first = _day(group[0].get("date"))
    return first.isoformat() if first else None


def _cite(group: Iterable[Event]) -> list[str]:
    return [str(e.get("event_id", "")) for e in group]


def _problems(events: Sequence[Event], as_of: date) -> list[dict[str, Any]]:
    return [
        {
            "display": g[-1].get("display", ""),
            "code": g[-1].get("code", ""),
            "code_system": g[-1].get("code_system", ""),
            "onset": _since(g),
            "cite": _cite(g),
        }
        for g in _entries(events, ("Condition",), as_of, _ACTIVE_CONDITION)
    ]


def _medications(events: Sequence[Event], as_of: date) -> list[dict[str, Any]]:
    taken = [e for e in events if str(e.get("status", "")).lower() not in _NEVER_TAKEN]
    return [
        {
            "display": g[-1].get("display", ""),
            "code": g[-1].get("code", ""),
            "since": _since(g),
            "cite": _cite(g),
        }
        for g in _entries(taken, ("MedicationRequest", "MedicationStatement"), as_of, frozenset({"active"}))
    ]


def _allergies(events: Sequence[Event], as_of: date) -> list[dict[str, Any]]:
    return [
        {
            "display": g[-1].get("display", ""),
            "code": g[-1].get("code", ""),
            "since": _since(g),
            "cite": _cite(g),
        }
        for g in _entries(events, ("AllergyIntolerance",), as_of, frozenset({"active"}))
    ]


def _value_date(p: Point) -> dict[str, Any]:
    return {"value": p.value, "date": p.day.isoformat()}


def _latest(points: dict[str, list[Point]]) -> dict[str, dict[str, Any]]:
    return {
        code: {
            "display": ps[-1].display,
            "value": ps[-1].value,
            "unit": ps[-1].unit,
            "date": ps[-1].day.isoformat(),
            "cite": [ps[-1].event_id],
        }
        for code, ps in sorted(points.items())
    }


def _direction(slope: float | None, per_year: float) -> str | None:
    if slope is None:
        return None
    if slope >= per_year:
        return "rising"
    if slope <= -per_year:
        return "falling"
    return "stable"


def _trends(points: dict[str, list[Point]], as_of: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trends of the watched series, and any value left out because its unit is not the series' unit."""
    trends, mismatched = [], []
    for spec in WATCHED:
        everything = series(points, spec.codes)
        if not everything:
            continue
        unit = canonical_unit(spec.code) or everything[-1].unit
        pts = [p for p in everything if p.unit == unit]
        mismatched += [
            {
                "code": p.code,
                "display": p.display,
                "value": p.value,
                "unit": p.unit,
                "unit_flag": f"unit {p.unit!r} differs from the {spec.display} series unit {unit}; left out of trends",
                "date": p.day.isoformat(),
                "cite": [p.event_id],
            }
            for p in everything
            if p.unit != unit
        ]
        if not pts:
            continue
        window = [p for p in pts if p.day >= years_before(as_of, _TREND_YEARS)]
        slope = slope_per_year(window, _TREND_MIN_DAYS)
        shown = pts[-_SHOWN_VALUES:]
        # cite what the numbers shown rest on: the first value, the slope window, the last values
        used = {p.event_id: p for p in (pts[0], *(window if slope is not None else ()), *shown)}
        trends.append(
            {
                "code": spec.code,
                "display": spec.display,
                "unit": unit,
                "n": len(pts),
                "first": _value_date(pts[0]),
                "last": _value_date(pts[-1]),
                "last_values": [_value_date(p) for p in shown],
                "change_per_year": None if slope is None else round(slope, 4),
                "direction": _direction(slope, spec.per_year),
                "cite": [p.event_id for p in sorted(used.values(), key=lambda p: (p.instant, p.event_id))],
            }
        )
    return trends, mismatched


def _norm_unit(unit: Any) -> str:
    return "".join(str(unit or "").split()).lower()


def _comparable_to_range(e: Event, unit_of_range: str) -> float | None:
    """The value in the reference range's unit, or ``None`` when the two cannot be compared.

    A converted value keeps its range in the recorded unit, so the recorded value is compared then.
    """
    value, original = e.get("value"), e.get("original_value")
    if not isinstance(value, float | int):
        return None
    if not unit_of_range:
        return float(original) if original is not None else float(value)
    if unit_of_range == _norm_unit(e.get("unit")):
        return float(value)
    if original is not None and unit_of_range == _norm_unit(e.get("original_unit")):
        return float(original)
    return None


def _out_of_range(latest: dict[str, dict[str, Any]], by_id: dict[str, Event]) -> list[dict[str, Any]]:
    out = []
    for code, item in latest.items():
        e = by_id[item["cite"][0]]
        reasons = []
        rng = e.get("reference_range") or None
        if rng:
            v = _comparable_to_range(e, _norm_unit(rng.get("unit")))
            low, high = rng.get("low"), rng.get("high")
            if v is not None and low is not None and v < low:
                reasons.append(f"below reference range low {low:g}")
            if v is not None and high is not None and v > high:
                reasons.append(f"above reference range high {high:g}")
        interpretation = str(e.get("interpretation") or "").strip()
        if interpretation in _ABNORMAL_CODES or interpretation.lower() in _ABNORMAL_WORDS:
            reasons.append(f"interpretation {interpretation}")
        if reasons:
            out.append(
                {
                    "code": code,
                    **{k: item[k] for k in ("display", "value", "unit", "date")},
                    "reference_range": dict(rng) if rng else None,
                    "interpretation": interpretation,
                    "reason": "; ".join(reasons),
                    "cite": list(item["cite"]),
                }
            )
    return out


def build_summary(events: Sequence[Event], *, as_of: date | None = None) -> dict[str, Any]:
    """A JSON-ready summary of one patient's record as it stood on ``as_of``.

    Args:
        events: All timeline events of one patient (filtered by patient id in the store).
        as_of: The day the summary describes; later data is ignored. Defaults to the day of the
            latest event, or today when there are no dated events.

    Returns:
        ``patient_id``, ``age`` (whole years; at death if that came first), ``sex``, ``as_of``,
        ``problems``, ``medications``, ``allergies``, ``latest`` (by LOINC code), ``trends``,
        ``flags`` (:func:`patient_index.flags.early_warning_flags`), ``out_of_range`` and
        ``unit_warnings``; every fact carries ``cite``, the event ids it came from.

    Raises:
        MixedPatientsError: (a ``ValueError``) when the events belong to more than one patient.
    """
    events = list(events)
    patient_id = single_patient(events)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if as_of is None:
        as_of = (
            max((d for e in events if (d := _day(e.get("date"))) is not None), default=None) or date.today()
        )
    born, died, patient = birth_and_death(events)
    age_day = min(as_of, died) if died else as_of
    points, unit_warnings = comparable_points(events, as_of)
    trends, mismatched = _trends(points, as_of)
    latest = _latest(points)
    return {
        "patient_id": patient_id,
        "age": age_on(born, age_day) if born and born <= age_day else None,
        "sex": (patient or {}).get("gender") or None,
        "as_of": as_of.isoformat(),
        "problems": _problems(events, as_of),
        "medications": _medications(events, as_of),
        "allergies": _allergies(events, as_of),
        "latest": latest,
        "trends": trends,
        "flags": early_warning_flags(events, as_of, points),
        "out_of_range": _out_of_range(latest, {str(e.get("event_id", "")): e for e in events}),
        "unit_warnings": unit_warnings + mismatched,
    }
