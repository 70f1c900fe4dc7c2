"""What the assessments read from one patient's record at one date, and when an input is too old.

:class:`Record` gathers, once per call of :func:`assessments.assess`, the facts every rule
needs: age and sex (from the Patient event), the comparable numeric series
(:func:`patient_index.flags.comparable_points`), the problem and medication lists of
:func:`patient_index.summary.build_summary`, and every Condition ever recorded. Rules read it and
never touch raw events themselves.

An input older than its limit below is stale: the rule treats it as missing and says what to
measure next. The limits follow how often the guideline asks for the measurement:

==================  ===========  ===========================================================
input               stale after  why
==================  ===========  ===========================================================
creatinine, eGFR    12 months    KDIGO 2024 monitors GFR at least yearly (G1-G2 A1)
urine ACR           12 months    KDIGO 2024 monitors albuminuria at least yearly
lipids (TC/HDL/LDL) 5 years      ACC/AHA 2018: reassess risk factors every 4-6 years
HbA1c               3 years      ADA 2024: repeat screening at least every 3 years
BP, latest visit    12 months    an office BP category describes the current year
BP, earlier visit   24 months    the second occasion ACC/AHA 2017 asks for, before the latest
BMI                 24 months    weight drifts; a class older than two years is not current
smoking status      36 months    the PCE and PREVENT want current smoking
AST, ALT, platelets 12 months    FIB-4 is a current-liver-state test (AASLD 2023)
NEWS2 vital signs   1 day        NEWS2 scores the patient now: one day's full set of vitals
==================  ===========  ===========================================================

A history (a Condition such as myocardial infarction, a past LDL-C >= 190 mg/dL) does not go
stale: it is dated and cited as a history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from assessments.model import Input
from patient_index.flags import Point, age_on, birth_and_death, clinical_time, comparable_points, series
from patient_index.model import Event
from patient_index.summary import build_summary

__all__ = ["ASSESSMENT_TYPES", "STALE_DAYS", "Record", "build_record", "point_input"]

# The resource types the assessments read: fetch at least these from the store (procedures are
# there for coronary or other arterial revascularization, which makes clinical ASCVD).
ASSESSMENT_TYPES = (
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Procedure",
)

STALE_DAYS: dict[str, int] = {
    "creatinine": 365,
    "egfr": 365,
    "acr": 365,
    "lipids": 5 * 365,
    "hba1c": 3 * 365,
    "bp_latest": 365,
    "bp_earlier": 2 * 365,
    "bmi": 2 * 365,
    "smoking": 3 * 365,
    "liver": 365,
    "vitals": 1,
}

_VOID = frozenset({"entered-in-error", "refuted"})  # a Condition that never held
_VOID_OBSERVATION = frozenset({"entered-in-error", "cancelled"})
_VOID_PROCEDURE = frozenset({"entered-in-error", "not-done", "cancelled"})
T = TypeVar("T")


def point_input(name: str, p: Point, value: float | None = None) -> Input:
    """An :class:`Input` citing one measured point (its event id and day)."""
    return Input(name, p.value if value is None else value, p.unit, p.day.isoformat(), (p.event_id,))


@dataclass(frozen=True)
class Record:
    """One patient's facts at ``as_of``, read once and shared by every rule."""

    patient_id: str | None
    as_of: date
    born: date | None
    sex: str | None  # "male", "female", another FHIR gender, or None
    race: str  # US Core OMB race category as recorded on the Patient, "" when not recorded
    patient_event_id: str
    points: dict[str, list[Point]]
    conditions: tuple[Event, ...]  # every Condition dated on or before as_of, oldest first
    procedures: tuple[Event, ...]  # every Procedure performed on or before as_of, oldest first
    by_code: dict[str, list[Event]]  # Observations (any value type) on or before as_of by code, oldest first
    problems: tuple[dict[str, Any], ...]  # the summary's active problem list
    medications: tuple[dict[str, Any], ...]  # the summary's active medications
    events: tuple[Event, ...]
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def age(self) -> int | None:
        """Whole years at ``as_of``."""
        return self.age_at(self.as_of)

    def age_at(self, day: date) -> int | None:
        """Whole years at ``day`` (``None`` when the birth date is unknown or later)."""
        if self.born is None or self.born > day:
            return None
        return age_on(self.born, day)

    def age_input(self, day: date | None = None) -> Input:
        """Age as an input, citing the Patient event (dated by the birth date)."""
        return Input(
            "age",
            self.age_at(day or self.as_of),
            "years",
            self.born.isoformat() if self.born else None,
            (self.patient_event_id,) if self.patient_event_id else (),
        )

    def race_input(self) -> Input:
        """Recorded race (US Core OMB category) as an input, citing the Patient event."""
        return Input(
            "race", self.race or None, "", None, (self.patient_event_id,) if self.patient_event_id else ()
        )

    def sex_input(self) -> Input:
        """Administrative sex as an input, citing the Patient event."""
        return Input("sex", self.sex, "", None, (self.patient_event_id,) if self.patient_event_id else ())

    def series(self, codes: Sequence[str]) -> list[Point]:
        """Every comparable point of the series under ``codes``, oldest first."""
        return series(self.points, codes)

    def latest(self, codes: Sequence[str], stale_key: str | None = None) -> Point | None:
        """The newest point of ``codes``; ``None`` when absent or older than ``STALE_DAYS[stale_key]``."""
        pts = self.series(codes)
        if not pts:
            return None
        p = pts[-1]
        return p if stale_key is None or self.fresh(p.day, stale_key) else None

    def fresh(self, day: date, stale_key: str) -> bool:
        """Whether a value dated ``day`` is recent enough for ``stale_key`` (see the module table)."""
        return self.as_of - day <= timedelta(days=STALE_DAYS[stale_key])

    def observations(self, codes: Iterable[str]) -> list[Event]:
        """Observation events of ``codes`` dated on or before ``as_of`` (any value type), oldest first."""
        found = [e for code in dict.fromkeys(codes) for e in self.by_code.get(code, ())]
        return sorted(found, key=_order) if len(found) > 1 else found

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per record: rules share derived facts (the eGFR history, clinical ASCVD)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return cast(T, self.cache[key])


def _order(e: Event) -> tuple[tuple[date, float], str]:
    return clinical_time(e.get("date")) or (date.min, 0.0), str(e.get("event_id", ""))


def _day(e: Event) -> date | None:
    when = clinical_time(e.get("date"))
    return when[0] if when else None


def build_record(
    events: Sequence[Event], *, as_of: date | None = None, summary: dict[str, Any] | None = None
) -> Record:
    """Read one patient's events (and summary, computed when not given) into a :class:`Record`.

    Args:
        events: All timeline events of one patient.
        as_of: The day assessed; defaults to the summary's ``as_of`` (the day of the latest event).
        summary: ``build_summary(events, as_of=as_of)`` when the caller has it already; it is
            recomputed when its ``as_of`` differs from ``as_of``.

    Raises:
        MixedPatientsError: (from the summary) when the events belong to more than one patient.
    """
    events = list(events)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if summary is None or (as_of is not None and summary.get("as_of") != as_of.isoformat()):
        summary = build_summary(events, as_of=as_of)
    day = date.fromisoformat(str(summary["as_of"]))
    born, _died, patient = birth_and_death(events)
    points, _ = comparable_points(events, day)
    conditions: list[Event] = []
    procedures: list[Event] = []
    by_code: dict[str, list[Event]] = {}
    for e in events:  # one pass: what each rule looks up, dated on or before the day
        rtype = e.get("resource_type")
        if rtype not in ("Condition", "Procedure", "Observation"):
            continue
        d = _day(e)
        if d is None or d > day:
            continue
        status = str(e.get("status", "")).lower()
        if rtype == "Condition" and status not in _VOID:
            conditions.append(e)
        elif rtype == "Procedure" and status not in _VOID_PROCEDURE:
            procedures.append(e)
        elif rtype == "Observation" and status not in _VOID_OBSERVATION:
            by_code.setdefault(str(e.get("code") or ""), []).append(e)
    conditions.sort(key=lambda e: (_day(e) or date.min, str(e.get("event_id", ""))))
    procedures.sort(key=_order)
    for series_events in by_code.values():
        series_events.sort(key=_order)
    sex = str((patient or {}).get("gender") or "").lower() or None
    return Record(
        patient_id=summary.get("patient_id"),
        as_of=day,
        born=born,
        sex=sex,
        race=str((patient or {}).get("race") or ""),
        patient_event_id=str((patient or {}).get("event_id", "")),
        points=points,
        conditions=tuple(conditions),
        procedures=tuple(procedures),
        by_code=by_code,
        problems=tuple(summary.get("problems") or ()),
        medications=tuple(summary.get("medications") or ()),
        events=tuple(events),
    )
