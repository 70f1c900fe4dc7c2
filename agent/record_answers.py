"""Direct record questions answered from the patient's own values: the latest, an average, a change.

Questions such as "latest HbA1c and when?", "average glucose over the last 24 h of records" or
"how has eGFR changed since 2018?" ask for a value, not a guideline. The answer is one computed
fact whose text states the value, its unit and date, citing the entries it rests on (the shape of
MedAgentBench's query tasks: the value and when, first). Pure functions over the timeline events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from agent.facts import number
from patient_index.flags import Point, comparable_points, series

__all__ = ["SERIES", "asked_series", "record_answer"]

# Series a question can name: the words, the display name, the LOINC codes gathered.
SERIES: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("hba1c", "a1c", "glycated", "glycohemoglobin"), "HbA1c", ("4548-4", "17856-6")),
    (("glucose", "sugar", "cbg"), "glucose", ("2339-0", "2345-7", "41653-7")),
    (("ldl",), "LDL cholesterol", ("18262-6", "13457-7")),
    (("hdl",), "HDL cholesterol", ("2085-9",)),
    (("triglycerid",), "triglycerides", ("2571-8",)),
    (("total cholesterol",), "total cholesterol", ("2093-3",)),
    (("egfr", "gfr"), "eGFR", ("33914-3", "62238-1", "48642-3", "48643-1", "69405-9", "98979-8")),
    (("creatinine",), "creatinine", ("2160-0", "38483-4")),
    (("potassium",), "potassium", ("2823-3", "6298-4")),
    (("sodium",), "sodium", ("2951-2", "2947-0")),
    (("magnesium",), "magnesium", ("19123-9", "2601-3")),
    (("systolic", "blood pressure", " bp"), "systolic blood pressure", ("8480-6",)),
    (("diastolic",), "diastolic blood pressure", ("8462-4",)),
    (("bmi", "body mass"), "BMI", ("39156-5",)),
    (("weight",), "body weight", ("29463-7",)),
    (("heart rate", "pulse"), "heart rate", ("8867-4",)),
    (("hemoglobin", "haemoglobin"), "hemoglobin", ("718-7",)),
)
_LATEST = re.compile(
    r"\b(?:latest|last|most recent|recent|current|newest|when was|what was|what is|when)\b", re.I
)
_AVERAGE = re.compile(r"\b(?:average|mean)\b", re.I)
_WINDOW = re.compile(r"\b(?:last|past|previous)\s+(\d{1,3})\s*(h|hours?|days?|d)\b", re.I)
_CHANGE = re.compile(r"\b(?:chang\w*|trend\w*|evolv\w*|progress\w*|since)\b", re.I)
_SINCE = re.compile(r"\bsince\s+(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?\b", re.I)
# A question for a judgement (a category, a stage, control, a recommendation) is answered by the
# assessments, not by a raw value.
_GUIDANCE = re.compile(
    r"\b(?:should|recommend\w*|indicat\w*|treat\w*|target|goal|start|stop|categor\w*|class\w*|stage\w*"
    r"|status|control\w*|adequate|risk|diagnos\w*|refer\w*|need\w*)\b",
    re.I,
)
# UCUM units as a clinician writes them.
_UNITS = {"mm[Hg]": "mmHg", "mL/min/{1.73_m2}": "mL/min/1.73 m2", "kg/m2": "kg/m2", "/min": "/min"}


def asked_series(question: str) -> tuple[str, tuple[str, ...]] | None:
    """The one series the question names (display name and codes), or ``None`` (none, or several)."""
    low = f" {question.lower()} "
    found = [(name, codes) for words, name, codes in SERIES if any(w in low for w in words)]
    if "hdl" in low or "ldl" in low:
        found = [f for f in found if f[0] != "total cholesterol"]
    return found[0] if len(found) == 1 else None


def _unit(p: Point) -> str:
    return _UNITS.get(p.unit, p.unit)


def _when(p: Point) -> str:
    return p.day.isoformat()


def _fact(text: str, points: Sequence[Point], kind: str) -> dict[str, Any]:
    return {"text": text, "event_ids": [p.event_id for p in points], "query": kind, "date": _when(points[-1])}


def _latest(name: str, pts: Sequence[Point]) -> dict[str, Any]:
    p = pts[-1]
    text = f"The latest {name} is {number(p.value)} {_unit(p)} on {_when(p)}."
    if len(pts) > 1:
        q = pts[-2]
        text += f" The one before was {number(q.value)} {_unit(q)} on {_when(q)}."
    return _fact(text, pts[-2:], "latest")


def _average(name: str, pts: Sequence[Point], amount: int, unit: str) -> dict[str, Any]:
    hours = amount * (24 if unit.startswith("d") else 1)
    end = pts[-1].instant
    window = [p for p in pts if p.instant >= end - hours * 3600]
    mean = sum(p.value for p in window) / len(window)
    stamp = (
        datetime.fromtimestamp(end, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if hours < 48 else _when(pts[-1])
    )
    text = (
        f"The average {name} over the last {amount} {unit} of records (ending {stamp}, at the latest "
        f"{name}) is {number(round(mean, 1))} {_unit(pts[-1])}, from {len(window)} value"
        f"{'s' if len(window) != 1 else ''} ({'; '.join(f'{number(p.value)} on {_when(p)}' for p in window[-5:])})."
    )
    return _fact(text, window, "average")


def _change(name: str, pts: Sequence[Point], since: date | None) -> dict[str, Any] | None:
    window = [p for p in pts if since is None or p.day >= since]
    if len(window) < 2:
        return None
    first, last = window[0], window[-1]
    delta = last.value - first.value
    text = (
        f"The {name} went from {number(first.value)} {_unit(first)} on {_when(first)} to "
        f"{number(last.value)} {_unit(last)} on {_when(last)} ({'+' if delta >= 0 else '−'}"
        f"{number(round(abs(delta), 1))} {_unit(last)} over {len(window)} values)."
    )
    return _fact(text, [first, last], "change")


def record_answer(question: str, events: Sequence[Mapping[str, Any]], as_of: date) -> dict[str, Any] | None:
    """A direct record question's answer as ``{text, event_ids, query, date}``, or ``None``.

    ``None`` when the question names no single series, asks for guidance rather than a value, or
    the record holds no value of that series by ``as_of``.
    """
    named = asked_series(question)
    if named is None or _GUIDANCE.search(question):
        return None
    name, codes = named
    points, _ = comparable_points([dict(e) for e in events], as_of)
    pts = series(points, codes)
    if pts:
        unit = pts[-1].unit
        pts = [p for p in pts if p.unit == unit]
    if not pts:
        return None
    window = _WINDOW.search(question)
    if _AVERAGE.search(question):
        amount, unit = (int(window.group(1)), window.group(2).lower()) if window else (24, "h")
        return _average(name, pts, amount, "h" if unit.startswith("h") else "days")
    if _CHANGE.search(question):
        m = _SINCE.search(question)
        since = date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)) if m else None
        return _change(name, pts, since) or _latest(name, pts)
    if _LATEST.search(question):
        return _latest(name, pts)
    return None
