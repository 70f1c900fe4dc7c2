"""Early-warning flags over one patient's numeric series, each naming the guideline it applies.

The first half is the series groundwork that :mod:`patient_index.summary` builds on too: the
clinical day of an event, the comparable numeric points of a series (one unit, dated on or
before ``as_of``, never entered in error), age, and the least-squares slope. The second half
is the flags. Every flag cites the events its numbers came from.

Thresholds and where they come from:

==========================  ==============================================  ==========================
flag                        rule                                            source
==========================  ==============================================  ==========================
egfr-rapid-decline          slope < -5 per year, >= 2 values over >= 90     KDIGO 2012 CKD guideline,
                            days within the 3 years before ``as_of``        rec. 2.1.3
egfr-below-60-persistent    the latest run of values below 60 spans >= 90   KDIGO 2024 CKD guideline
                            days (critical when the latest is < 15, G5)     (GFR < 60 for > 3 months)
egfr-below-60-unconfirmed   latest below 60, run shorter than 90 days       KDIGO 2024 CKD guideline
                            (info; critical when < 15)
hba1c-diabetes-range        latest >= 6.5 %                                 ADA Standards of Care 2024
hba1c-prediabetes-range     latest >= 5.7 %                                 ADA Standards of Care 2024
bp-stage-1 / bp-stage-2     mean of the last 2-3 visit days in the last     2017 ACC/AHA hypertension
                            year: >= 130/80 / >= 140/90 (age >= 18)         guideline
bp-severe                   latest day or that mean >= 180 or >= 120        2017 ACC/AHA hypertension
                            (any age: critical)                             guideline
ldl-190                     latest LDL-C >= 190 mg/dL                       2018 ACC/AHA cholesterol
                                                                            guideline
bmi-obesity                 latest BMI >= 30 at age >= 20 (class I-III)     WHO/NIH BMI classes
==========================  ==============================================  ==========================

The guideline text for a hypertensive crisis reads "> 180 and/or > 120"; the flag fires at
180/120 inclusive on purpose: an early warning errs towards being raised.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from patient_index.model import Event
from patient_index.units import canonical_unit

__all__ = [
    "BMI_CODES",
    "DBP_CODES",
    "EGFR_CODES",
    "HBA1C_CODES",
    "LDL_CODES",
    "SBP_CODES",
    "THRESHOLD_SOURCES",
    "MixedPatientsError",
    "Point",
    "age_on",
    "birth_and_death",
    "clinical_time",
    "comparable_points",
    "early_warning_flags",
    "series",
    "single_patient",
    "slope_per_year",
    "years_before",
]

EGFR_CODES = ("33914-3", "62238-1", "48642-3", "48643-1", "69405-9", "98979-8")
HBA1C_CODES = ("4548-4",)
LDL_CODES = ("18262-6", "13457-7")
SBP_CODES = ("8480-6",)
DBP_CODES = ("8462-4",)
BMI_CODES = ("39156-5",)

_VOID_STATUSES = frozenset({"entered-in-error", "cancelled"})  # an Observation that never held
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_DAYS_PER_YEAR = 365.25

KDIGO_2012 = "KDIGO 2012 CKD guideline, rec. 2.1.3 (rapid progression: eGFR decline > 5 mL/min/1.73 m2/yr)"
KDIGO_2024 = "KDIGO 2024 CKD guideline (CKD: GFR < 60 mL/min/1.73 m2 for > 3 months)"
ADA_2024 = "ADA Standards of Care 2024, section 2 (HbA1c 5.7-6.4 % prediabetes, >= 6.5 % diabetes)"
ACC_AHA_BP = "2017 ACC/AHA hypertension guideline (BP categories)"
ACC_AHA_CHOL = "2018 ACC/AHA cholesterol guideline (LDL-C >= 190 mg/dL)"
WHO_BMI = "WHO/NIH BMI classes (obesity class I 30-34.9, II 35-39.9, III >= 40 kg/m2; adults)"
# Every threshold_source a flag can name (the CDS service finds each one's guideline passage at start).
THRESHOLD_SOURCES = (KDIGO_2012, KDIGO_2024, ADA_2024, ACC_AHA_BP, ACC_AHA_CHOL, WHO_BMI)


class MixedPatientsError(ValueError):
    """Events of more than one patient were given; the caller must filter by patient in the store."""

    def __init__(self, patient_count: int) -> None:
        self.patient_count = patient_count
        super().__init__(
            f"events of {patient_count} patients were given; a summary covers exactly one patient. "
            "Filter the events by patient id in the store before summarising."
        )


@dataclass(frozen=True)
class Point:
    """One comparable numeric value of a series."""

    value: float
    day: date  # the clinical calendar day as recorded (local to the recorded offset)
    instant: float  # epoch seconds, for ordering within a day
    event_id: str
    code: str
    display: str
    unit: str


def clinical_time(text: Any) -> tuple[date, float] | None:
    """The calendar day (as recorded) and instant of an ISO 8601 date or dateTime; ``None`` if unreadable.

    A year or year-month counts as its first day; a date or a dateTime without offset is read as UTC.
    """
    if not isinstance(text, str):
        return None
    return _clinical_time(text)


@functools.lru_cache(maxsize=65536)
def _clinical_time(text: str) -> tuple[date, float] | None:
    # Records repeat the same timestamps (one encounter's many observations): parse each once.
    if not text.strip():
        return None
    s = text.strip()
    try:
        if len(s) == 4:
            day = date(int(s), 1, 1)
        elif len(s) == 7:
            day = date(int(s[:4]), int(s[5:7]), 1)
        elif len(s) == 10:
            day = date.fromisoformat(s)
        else:
            moment = datetime.fromisoformat(s.replace("z", "Z").replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.date(), moment.timestamp()
    except ValueError:
        return None
    return day, datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def single_patient(events: Iterable[Event]) -> str | None:
    """The one patient id of ``events`` (``None`` when there are none); refuses a mix of patients."""
    ids = {str(e.get("patient_id") or "") for e in events}
    if len(ids) > 1:
        raise MixedPatientsError(len(ids))
    return (next(iter(ids)) or None) if ids else None


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth: date, day: date) -> int:
    """Whole years completed on ``day`` (the birthday itself counts)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_and_death(events: Iterable[Event]) -> tuple[date | None, date | None, Event | None]:
    """Birth and death days from the Patient event, and that event."""
    for e in events:
        if e.get("resource_type") == "Patient":
            born = clinical_time(e.get("birth_date"))
            died = clinical_time(e.get("deceased_date"))
            return (born[0] if born else None), (died[0] if died else None), e
    return None, None, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def comparable_points(
    events: Iterable[Event], as_of: date
) -> tuple[dict[str, list[Point]], list[dict[str, Any]]]:
    """Numeric Observation values dated on or before ``as_of``, by code and oldest first.

    A value whose unit could not be normalised (``unit_flag`` set) or whose unit is not its
    series' canonical unit is never mixed in: it is returned in the second list, as a warning
    that cites it. Values without a readable date cannot be placed in time and are left out.
    """
    points: dict[str, list[Point]] = {}
    warnings: list[tuple[Point, str]] = []
    for e in events:
        if e.get("resource_type") != "Observation" or str(e.get("status", "")).lower() in _VOID_STATUSES:
            continue
        value, code, when = _number(e.get("value")), str(e.get("code") or ""), clinical_time(e.get("date"))
        if value is None or not code or when is None or when[0] > as_of:
            continue
        unit = str(e.get("unit") or "")
        p = Point(value, when[0], when[1], str(e.get("event_id", "")), code, str(e.get("display", "")), unit)
        expected = canonical_unit(code)
        flag = str(e.get("unit_flag") or "")
        if not flag and expected is not None and unit != expected:
            flag = f"unit {unit or '(none)'!r} is not the series unit {expected}; left out of trends"
        if flag:
            warnings.append((p, flag))
        else:
            points.setdefault(code, []).append(p)
    for series_points in points.values():
        series_points.sort(key=lambda p: (p.instant, p.event_id))
    warnings.sort(key=lambda w: (w[0].instant, w[0].event_id))
    report = [
        {
            "code": p.code,
            "display": p.display,
            "value": p.value,
            "unit": p.unit,
            "unit_flag": flag,
            "date": p.day.isoformat(),
            "cite": [p.event_id],
        }
        for p, flag in warnings
    ]
    return points, report


def series(points: dict[str, list[Point]], codes: Sequence[str]) -> list[Point]:
    """The points of all ``codes`` (one series under several LOINC codes), oldest first."""
    merged = [p for code in codes for p in points.get(code, ())]
    return sorted(merged, key=lambda p: (p.instant, p.event_id))


def slope_per_year(points: Sequence[Point], min_span_days: int) -> float | None:
    """Least-squares slope in units per year; ``None`` below 2 points or a span under ``min_span_days``."""
    if len(points) < 2 or (points[-1].day - points[0].day).days < min_span_days:
        return None
    t0 = points[0].instant
    xs = [(p.instant - t0) / 86400 / _DAYS_PER_YEAR for p in points]
    ys = [p.value for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _flag(
    flag_id: str, severity: str, summary: str, detail: str, source: str, cite: Iterable[Point]
) -> dict[str, Any]:
    return {
        "id": flag_id,
        "severity": severity,
        "summary": summary,
        "detail": detail,
        "threshold_source": source,
        "cite": list(dict.fromkeys(p.event_id for p in cite)),
    }


def _egfr_flags(egfr: list[Point], as_of: date) -> list[dict[str, Any]]:
    if not egfr:
        return []
    out = []
    recent = [p for p in egfr if p.day >= years_before(as_of, 3)]
    slope = slope_per_year(recent, min_span_days=90)
    if slope is not None and slope < -5:
        first, last = recent[0], recent[-1]
        out.append(
            _flag(
                "egfr-rapid-decline",
                "warning",
                f"eGFR falling {_fmt(-slope)} mL/min/1.73m2 per year ({_fmt(first.value)} to "
                f"{_fmt(last.value)}, {first.day} to {last.day}): rapid progression",
                f"Least-squares slope of {len(recent)} eGFR values in the 3 years before {as_of}: "
                f"{slope:.2f} mL/min/1.73 m2 per year. KDIGO defines rapid progression as a sustained "
                "decline of more than 5 per year; check for acute causes and confirm with repeat values.",
                KDIGO_2012,
                recent,
            )
        )
    latest = egfr[-1]
    if latest.value < 60:
        run = [latest]
        for p in reversed(egfr[:-1]):
            if p.value >= 60:
                break
            run.insert(0, p)
        span = (latest.day - run[0].day).days
        stage = next(g for cut, g in ((15, "G5"), (30, "G4"), (45, "G3b"), (60, "G3a")) if latest.value < cut)
        if span >= 90:
            out.append(
                _flag(
                    "egfr-below-60-persistent",
                    "critical" if latest.value < 15 else "warning",
                    f"eGFR below 60 for {span} days ({_fmt(run[0].value)} on {run[0].day}, "
                    f"{_fmt(latest.value)} on {latest.day}): meets CKD criterion, {stage}",
                    f"All {len(run)} eGFR values from {run[0].day} to {latest.day} ({span} days) are below "
                    "60 mL/min/1.73 m2: the KDIGO GFR criterion for CKD (> 3 months; 90 days taken as 3 "
                    f"months), category {stage} by the latest value. Albuminuria (ACR) is not assessed here.",
                    KDIGO_2024,
                    run,
                )
            )
        else:
            out.append(
                _flag(
                    "egfr-below-60-unconfirmed",
                    "critical" if latest.value < 15 else "info",
                    f"eGFR {_fmt(latest.value)} on {latest.day} is below 60 (not yet shown for 3 months); "
                    "repeat to assess chronicity",
                    f"eGFR has been below 60 mL/min/1.73 m2 for {span} days ({len(run)} value(s)); "
                    "KDIGO requires more than 3 months for the CKD criterion. Exclude acute kidney injury.",
                    KDIGO_2024,
                    run,
                )
            )
    return out


def _hba1c_flag(hba1c: list[Point]) -> list[dict[str, Any]]:
    if not hba1c:
        return []
    latest = hba1c[-1]
    previous = hba1c[-2] if len(hba1c) > 1 else None
    for threshold, label, flag_id, severity, note in (
        (
            6.5,
            "diabetes",
            "hba1c-diabetes-range",
            "warning",
            "Without unequivocal hyperglycaemia the diagnosis needs a second abnormal result "
            "(the same test repeated or a different test).",
        ),
        (
            5.7,
            "prediabetes",
            "hba1c-prediabetes-range",
            "info",
            "HbA1c 5.7-6.4 % is prediabetes: increased risk of diabetes and cardiovascular disease.",
        ),
    ):
        if latest.value < threshold - 1e-9:
            continue
        if previous is not None and previous.value < threshold - 1e-9:
            summary = (
                f"HbA1c rose to {_fmt(latest.value)}% on {latest.day} from {_fmt(previous.value)}% on "
                f"{previous.day}, crossing the {threshold}% {label} threshold"
            )
            cited = [previous, latest]
        else:
            summary = f"HbA1c {_fmt(latest.value)}% on {latest.day} is in the {label} range (≥{threshold}%)"
            cited = [latest]
        return [_flag(flag_id, severity, summary, note, ADA_2024, cited)]
    return []


def _visit_days(points: list[Point], since: date) -> list[tuple[date, float, list[Point]]]:
    """The last 3 days with readings since ``since``: (day, mean of that day's readings, readings)."""
    days: dict[date, list[Point]] = {}
    for p in points:
        if p.day >= since:
            days.setdefault(p.day, []).append(p)
    return [(d, sum(p.value for p in ps) / len(ps), ps) for d, ps in sorted(days.items())][-3:]


def _bp_text(systolic: float | None, diastolic: float | None) -> str:
    return "/".join("-" if v is None else _fmt(v) for v in (systolic, diastolic))


def _reaches(systolic: float | None, diastolic: float | None, s_cut: float, d_cut: float) -> bool:
    return (systolic is not None and systolic >= s_cut) or (diastolic is not None and diastolic >= d_cut)


def _bp_flag(sbp: list[Point], dbp: list[Point], as_of: date, born: date | None) -> list[dict[str, Any]]:
    s_days, d_days = _visit_days(sbp, years_before(as_of, 1)), _visit_days(dbp, years_before(as_of, 1))
    if not s_days and not d_days:
        return []
    # ACC/AHA: classify on the average of readings from >= 2 occasions, by the higher category.
    s_mean = sum(m for _, m, _ in s_days) / len(s_days) if len(s_days) >= 2 else None
    d_mean = sum(m for _, m, _ in d_days) / len(d_days) if len(d_days) >= 2 else None
    used = [p for _, _, ps in s_days + d_days for p in ps]
    day_list = sorted({d for d, _, _ in s_days + d_days})
    span, last_day = f"{day_list[0]} to {day_list[-1]}", day_list[-1]
    last_s = next((m for d, m, _ in s_days if d == last_day), None)
    last_d = next((m for d, m, _ in d_days if d == last_day), None)
    mean_text = _bp_text(s_mean, d_mean)

    if _reaches(last_s, last_d, 180, 120) or _reaches(s_mean, d_mean, 180, 120):
        summary = (
            f"BP {_bp_text(last_s, last_d)} mmHg on {last_day}"
            if _reaches(last_s, last_d, 180, 120)
            else f"BP averages {mean_text} mmHg ({span})"
        )
        return [
            _flag(
                "bp-severe",
                "critical",
                f"{summary}: severe range (≥180/120); assess for hypertensive emergency",
                f"Latest day {last_day}: {_bp_text(last_s, last_d)} mmHg; mean of the last "
                f"{len(day_list)} visit day(s) within the year before {as_of}: {mean_text} mmHg. "
                "The 2017 ACC/AHA guideline calls > 180 and/or > 120 a hypertensive crisis; "
                "this flag fires at 180/120 inclusive.",
                ACC_AHA_BP,
                used,
            )
        ]
    if born is not None and age_on(born, last_day) < 18:
        return []  # the stage cut-offs are for adults; children are classed by BP percentiles
    for flag_id, severity, s_cut, d_cut, label in (
        ("bp-stage-2", "warning", 140, 90, "stage 2 hypertension range (≥140/90)"),
        ("bp-stage-1", "info", 130, 80, "stage 1 hypertension range (130-139/80-89)"),
    ):
        if _reaches(s_mean, d_mean, s_cut, d_cut):
            return [
                _flag(
                    flag_id,
                    severity,
                    f"BP averages {mean_text} mmHg over {len(day_list)} visit days ({span}): {label}",
                    f"Mean of the readings on the last 2-3 visit days within the year before {as_of} "
                    "(readings on one day averaged first), classed by the higher of the systolic and "
                    "diastolic categories of the 2017 ACC/AHA guideline for adults.",
                    ACC_AHA_BP,
                    used,
                )
            ]
    return []


def _ldl_flag(ldl: list[Point]) -> list[dict[str, Any]]:
    if not ldl or ldl[-1].value < 190:
        return []
    p = ldl[-1]
    return [
        _flag(
            "ldl-190",
            "warning",
            f"LDL-C {_fmt(p.value)} mg/dL on {p.day} (≥190): severe hypercholesterolaemia; "
            "consider familial hypercholesterolaemia",
            "The 2018 ACC/AHA cholesterol guideline recommends maximally tolerated (high-intensity) "
            "statin therapy for adults 20-75 years with LDL-C ≥ 190 mg/dL, without risk estimation.",
            ACC_AHA_CHOL,
            [p],
        )
    ]


def _bmi_flag(bmi: list[Point], born: date | None) -> list[dict[str, Any]]:
    if not bmi or bmi[-1].value < 30:
        return []
    p = bmi[-1]
    if born is not None and age_on(born, p.day) < 20:
        return []  # children and adolescents are classed by BMI-for-age percentiles, not these cut-offs
    cls = "III" if p.value >= 40 else "II" if p.value >= 35 else "I"
    return [
        _flag(
            "bmi-obesity",
            "warning" if cls == "III" else "info",
            f"BMI {_fmt(p.value)} kg/m2 on {p.day}: obesity class {cls}",
            "WHO/NIH adult BMI classes: obesity class I 30-34.9, class II 35-39.9, class III ≥ 40 kg/m2."
            + ("" if born is not None else " Age unknown: adult cut-offs applied."),
            WHO_BMI,
            [p],
        )
    ]


def early_warning_flags(
    events: Sequence[Event], as_of: date, points: dict[str, list[Point]] | None = None
) -> list[dict[str, Any]]:
    """Guideline-threshold flags from one patient's events dated on or before ``as_of``.

    Args:
        events: Timeline events of one patient (a mix of patients raises :class:`MixedPatientsError`).
        as_of: The day the flags describe; later data is ignored.
        points: :func:`comparable_points` of the same events at the same ``as_of``, when the
            caller has them already (the summary does); computed here otherwise.

    Returns:
        Flags ``{id, severity, summary, detail, threshold_source, cite}``, most severe first.
    """
    single_patient(events)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if points is None:
        points, _ = comparable_points(events, as_of)
    born, _died, _ = birth_and_death(events)
    flags = [
        *_egfr_flags(series(points, EGFR_CODES), as_of),
        *_hba1c_flag(series(points, HBA1C_CODES)),
        *_bp_flag(series(points, SBP_CODES), series(points, DBP_CODES), as_of, born),
        *_ldl_flag(series(points, LDL_CODES)),
        *_bmi_flag(series(points, BMI_CODES), born),
    ]
    return sorted(flags, key=lambda f: _SEVERITY_ORDER[f["severity"]])
