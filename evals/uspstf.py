"""Ground truth for ``uspstf-eligibility``: which USPSTF specific recommendations apply to a patient.

The truth comes only from the recommendation set's own ``ageRange`` and ``sex`` fields and the
patient's FHIR ``Patient`` resource (``birthDate``, ``gender``, ``deceased[x]``), never from the
system under test. Superseded versions are excluded: a record marked ``status: superseded`` or
``superseded: true``, or named by another record's ``supersedes`` list.

Three truth sets per patient: *applies* (every grade whose population includes the patient's age
and sex, as the issue defines it), *age-sex A/B* (grades A and B of those: the old "due" truth,
which counts pregnancy- and risk-qualified populations whenever age and sex fit) and *due*
(:mod:`evals.uspstf_due`: the A/B records whose population the raw record confirms and whose
service was not done within its interval).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "DUE_GRADES",
    "Demographics",
    "Recommendation",
    "age_on",
    "applicable",
    "demographics",
    "load_recommendations",
]

DUE_GRADES = frozenset({"A", "B"})


@dataclass(frozen=True)
class Recommendation:
    """One USPSTF specific recommendation, reduced to what eligibility needs."""

    id: str
    title: str
    grade: str
    sex: str  # "female", "male" or "any"
    age_min: float
    age_max: float
    superseded: bool

    @property
    def doc_id(self) -> str:
        """The id the guideline indexer gives this record (``uspstf_<id>``)."""
        return f"uspstf_{self.id}"


@dataclass(frozen=True)
class Demographics:
    """Age and sex of one patient on the as-of day, read from the FHIR Patient resource."""

    patient_id: str
    sex: str
    birth: date | None
    deceased: date | None
    source: str

    def age(self, as_of: date) -> int | None:
        return age_on(self.birth, as_of) if self.birth else None

    def alive(self, as_of: date) -> bool:
        return self.deceased is None or self.deceased > as_of


def _sex(value: Any) -> str:
    text = str(value or "").strip().lower()
    return text if text in ("female", "male") else "any"


def load_recommendations(path: Path) -> list[Recommendation]:
    """Every record of the USPSTF JSON, with its superseded flag worked out."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    records = payload["specificRecommendations"] if isinstance(payload, dict) else payload
    named = {str(s) for r in records for s in (r.get("supersedes") or [])}
    out = []
    for r in records:
        lo, hi = (r.get("ageRange") or [0, 200])[:2]
        rid = str(r["id"])
        superseded = (
            str(r.get("status", "")).lower() == "superseded" or bool(r.get("superseded")) or rid in named
        )
        out.append(
            Recommendation(
                id=rid,
                title=" ".join(str(r["title"]).split()),
                grade=str(r["grade"]).strip().upper(),
                sex=_sex(r.get("sex") or r.get("gender")),
                age_min=float(lo),
                age_max=float(hi),
                superseded=superseded,
            )
        )
    return out


def age_on(born: date, day: date) -> int:
    """Whole years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def applicable(
    recs: Iterable[Recommendation], age: int, sex: str, *, grades: Iterable[str] | None = None
) -> set[str]:
    """Ids of the current recommendations whose age range (inclusive) and sex include the patient."""
    allowed = {g.upper() for g in grades} if grades is not None else None
    return {
        r.id
        for r in recs
        if not r.superseded
        and r.age_min <= age <= r.age_max
        and (r.sex == "any" or r.sex == sex)
        and (allowed is None or r.grade in allowed)
    }


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def demographics(bundle: Path) -> Demographics | None:
    """The first Patient resource of a FHIR Bundle file, or ``None`` when it has none."""
    data = json.loads(bundle.read_text(encoding="utf-8"))
    entries = data.get("entry", []) if isinstance(data, dict) else []
    for entry in entries:
        r = entry.get("resource") or {}
        if r.get("resourceType") == "Patient" and r.get("id"):
            return Demographics(
                patient_id=str(r["id"]),
                sex=_sex(r.get("gender")),
                birth=_day(r.get("birthDate")),
                deceased=_day(r.get("deceasedDateTime")),
                source=bundle.name,
            )
    return None
