"""A tiny builder of one patient's timeline events for the assessment tests (and its own check).

Events follow :mod:`patient_index.model`: the fields the summary and the assessments read, values
already in each series' canonical unit, ids unique per event.
"""

from __future__ import annotations

import itertools
from typing import Any

from patient_index.summary import build_summary

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UNITS = {
    "2160-0": "mg/dL", "38483-4": "mg/dL", "2093-3": "mg/dL", "2085-9": "mg/dL", "18262-6": "mg/dL",
    "8480-6": "mm[Hg]", "8462-4": "mm[Hg]", "4548-4": "%", "39156-5": "kg/m2", "29463-7": "kg", "8302-2": "cm",
    "33914-3": "mL/min/{1.73_m2}", "14959-1": "mg/g", "9318-7": "mg/g", "1920-8": "U/L", "1742-6": "U/L",
    "777-3": "10*3/uL", "9279-1": "/min", "59408-5": "%", "8867-4": "/min", "8310-5": "Cel",
}  # fmt: skip


class Patient:
    """Events of one patient, added by small methods; ``events`` is the list the product reads."""

    def __init__(
        self, birth_date: str | None = "1960-06-15", gender: str | None = "male", pid: str = "p1"
    ) -> None:
        self.pid = pid
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        if birth_date is not None or gender is not None:
            self.events.append(
                self._base("Patient", "")
                | {"gender": gender or "", "birth_date": birth_date or "", "display": "Patient"}
            )

    def _base(self, rtype: str, date: str) -> dict[str, Any]:
        n = next(self._ids)
        return {
            "event_id": f"{self.pid}-e{n}", "patient_id": self.pid, "resource_type": rtype,
            "resource_id": f"r{n}", "part": "", "date": date, "status": "final", "text": "",
        }  # fmt: skip

    def obs(
        self, code: str, value: float | str, date: str, unit: str | None = None, status: str = "final"
    ) -> str:
        """Add an Observation; returns its event id."""
        e = self._base("Observation", date) | {
            "code_system": LOINC, "code": code, "display": code, "category": "laboratory", "value": value,
            "unit": UNITS.get(code, "") if unit is None else unit, "status": status, "unit_flag": "",
        }  # fmt: skip
        self.events.append(e)
        return str(e["event_id"])

    def bp(self, systolic: float, diastolic: float, date: str) -> None:
        self.obs("8480-6", systolic, date)
        self.obs("8462-4", diastolic, date)

    def condition(
        self, display: str, date: str, code: str = "", status: str = "active", end: str | None = None
    ) -> str:
        e = self._base("Condition", date) | {
            "code_system": SNOMED if code else "", "code": code, "display": display, "status": status,
            "end_date": end, "category": "problem-list-item",
        }  # fmt: skip
        self.events.append(e)
        return str(e["event_id"])

    def medication(self, display: str, date: str, status: str = "active") -> str:
        e = self._base("MedicationRequest", date) | {"code_system": "", "code": display.lower(), "display": display,
                                                      "status": status, "end_date": None}  # fmt: skip
        self.events.append(e)
        return str(e["event_id"])

    def procedure(self, display: str, date: str, code: str = "") -> str:
        e = self._base("Procedure", date) | {"code_system": SNOMED, "code": code, "display": display,
                                              "status": "completed"}  # fmt: skip
        self.events.append(e)
        return str(e["event_id"])

    def smoking(self, answer: str, date: str) -> str:
        return self.obs("72166-2", answer, date, unit="")


def test_the_factory_builds_events_the_summary_reads() -> None:
    p = Patient("1960-06-15", "female")
    p.obs("4548-4", 6.1, "2024-01-10")
    p.bp(130, 82, "2024-01-10")
    p.condition("Hypertension", "2015-03-01", "38341003")
    s = build_summary(p.events, as_of=None)
    assert s["age"] == 63 and s["sex"] == "female"
    assert s["latest"]["4548-4"]["value"] == 6.1
    assert [x["display"] for x in s["problems"]] == ["Hypertension"]
