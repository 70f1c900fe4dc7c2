"""NEWS2 (Royal College of Physicians 2017) from one day's complete set of vital signs.

Computed when respiration rate, SpO2, systolic BP, pulse, consciousness and temperature are all
recorded on one calendar day, no more than 1 day before ``as_of`` (NEWS2 describes the patient
now). SpO2 is scored on Scale 1 (Scale 2 needs a documented hypercapnic target, which the
record does not carry). Supplemental oxygen adds 2: it is read from an inhaled-oxygen flow
(LOINC 3151-8, > 0) or concentration (3150-0, > 21 %) that day; without one the patient is
scored as on air and the statement says so. Consciousness: an ACVPU answer (LOINC 80288-4 or
67775-7) or a GCS total (9269-2; 15 is alert, lower counts as new confusion). Clinical risk:
0-4 low (3 in one parameter: low-medium), 5-6 medium, >= 7 high.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from assessments.model import Assessment, Input
from assessments.record import Record
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import clinical_time

__all__ = ["assess_news2", "news2_points", "news2_risk"]

_ID, _NAME = "news2", "NEWS2"
_CODES: dict[str, tuple[str, ...]] = {
    "respiration rate": ("9279-1",),
    "SpO2": ("59408-5", "2708-6", "20564-1"),
    "systolic BP": ("8480-6",),
    "pulse": ("8867-4",),
    "temperature": ("8310-5", "8331-1", "8332-9", "8333-7"),
    "consciousness": ("80288-4", "67775-7", "9269-2"),
}
_O2_FLOW, _O2_FRACTION = ("3151-8",), ("3150-0",)


def _band(value: float, bands: tuple[tuple[float, int], ...], top: int) -> int:
    for upper, points in bands:
        if value <= upper:
            return points
    return top


def news2_points(
    rr: float, spo2: float, on_oxygen: bool, sbp: float, pulse: float, alert: bool, temp_c: float
) -> dict[str, int]:
    """Points per parameter (Scale 1 for SpO2)."""
    return {
        "respiration rate": _band(rr, ((8, 3), (11, 1), (20, 0), (24, 2)), 3),
        "SpO2": _band(spo2, ((91, 3), (93, 2), (95, 1)), 0),
        "air or oxygen": 2 if on_oxygen else 0,
        "systolic BP": _band(sbp, ((90, 3), (100, 2), (110, 1), (219, 0)), 3),
        "pulse": _band(pulse, ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2)), 3),
        "consciousness": 0 if alert else 3,
        "temperature": _band(temp_c, ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)), 2),
    }


def news2_risk(points: dict[str, int]) -> str:
    """Clinical risk of a NEWS2 total: low, low-medium (a 3 in one parameter), medium, high."""
    total = sum(points.values())
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    return "low-medium" if max(points.values()) == 3 else "low"


def _alert(value: Any) -> bool | None:
    if isinstance(value, int | float):
        return value >= 15  # GCS total
    text = str(value or "").strip().lower()
    if not text:
        return None
    return text.startswith("alert") or text == "a"


def _celsius(e: dict[str, Any]) -> float:
    value, unit = float(e["value"]), str(e.get("unit") or "")
    return (value - 32) * 5 / 9 if "degf" in unit.lower() else value


def assess_news2(rec: Record) -> Assessment:
    """NEWS2 from the latest day with a complete vital-sign set."""
    source = SOURCES[_ID]
    by_day: dict[date, dict[str, dict[str, Any]]] = {}
    for name, codes in {**_CODES, "oxygen": _O2_FLOW + _O2_FRACTION}.items():
        for e in rec.observations(codes):
            when = clinical_time(e.get("date"))
            if when is not None and e.get("value") not in (None, ""):
                by_day.setdefault(when[0], {})[name if name != "oxygen" else str(e.get("code"))] = (
                    e  # latest wins
                )
    complete = [d for d, vals in by_day.items() if all(k in vals for k in _CODES)]
    if not complete or not rec.fresh(max(complete), "vitals"):
        return insufficient(_ID, _NAME, source, [
            "a complete vital-sign set on one day within 1 day of the assessment: respiration rate, SpO2, "
            "systolic BP, pulse, consciousness (ACVPU or GCS), temperature"
        ])  # fmt: skip
    day = max(complete)
    vals = by_day[day]
    alert = _alert(vals["consciousness"].get("value"))
    numeric = [
        vals[k].get("value") for k in ("respiration rate", "SpO2", "systolic BP", "pulse", "temperature")
    ]
    if alert is None or not all(isinstance(v, int | float) for v in numeric):
        return insufficient(_ID, _NAME, source, ["numeric vital signs and a readable consciousness level"])
    flow, fraction = vals.get(_O2_FLOW[0]), vals.get(_O2_FRACTION[0])
    on_o2 = bool(
        (flow and isinstance(flow.get("value"), int | float) and flow["value"] > 0)
        or (fraction and isinstance(fraction.get("value"), int | float) and fraction["value"] > 21)
    )
    rr, spo2, sbp, pulse = (
        float(vals[k]["value"]) for k in ("respiration rate", "SpO2", "systolic BP", "pulse")
    )
    temp = _celsius(vals["temperature"])
    points = news2_points(rr, spo2, on_o2, sbp, pulse, alert, temp)
    total = sum(points.values())
    risk = news2_risk(points)
    inputs = tuple(
        Input(
            k,
            vals[k].get("value"),
            str(vals[k].get("unit") or ""),
            day.isoformat(),
            (str(vals[k].get("event_id")),),
        )
        for k in _CODES
    )
    air = "on supplemental oxygen" if on_o2 else (
        "on air" if (flow or fraction) else "scored as on air (no supplemental oxygen recorded)")  # fmt: skip
    statement = (
        f"NEWS2 {total} ({risk} clinical risk) on {day}: RR {fmt(rr, 0)}, SpO2 {fmt(spo2, 0)} % (Scale 1), "
        f"SBP {fmt(sbp, 0)}, pulse {fmt(pulse, 0)}, {'alert' if alert else 'not alert'}, "
        f"{fmt(temp)} °C; {air}."
    )
    return Assessment(
        _ID, _NAME, risk, statement, source, inputs, (), float(total), "points", {"points": points}
    )
