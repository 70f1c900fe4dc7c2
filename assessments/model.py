"""The shape every assessment shares: a verdict, the record entries it read, and its guideline source.

An assessment is computed from one patient's timeline events (and the summary built from them)
by a small pure function. It never guesses: a missing or stale input gives the verdict
``insufficient data`` and names what to measure next in ``missing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["INSUFFICIENT", "Assessment", "Input", "Source"]

INSUFFICIENT = "insufficient data"


@dataclass(frozen=True)
class Input:
    """One value an assessment used, with the record entries (event ids) and the date it came from."""

    name: str
    value: float | str | bool | None
    unit: str = ""
    date: str | None = None
    event_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``inputs[]`` item of ``cra patient assess --json``."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "date": self.date,
            "event_ids": list(self.event_ids),
        }


@dataclass(frozen=True)
class Source:
    """The guideline an assessment implements: as data, so it can be cited and checked.

    ``passage_query`` is the text used to find the indexed passage this rule implements (the
    agent and the CDS service look it up in the guideline index and cite it as a ``[G#]``).
    ``reference`` names the publication the numbers come from (the equation's paper) when the
    indexed guideline summary does not carry them, e.g. published coefficients.
    """

    doc_id: str
    title: str
    section: str
    grade: str = ""
    passage_query: str = ""
    reference: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``source`` object of ``cra patient assess --json``."""
        out = {"doc_id": self.doc_id, "title": self.title, "section": self.section, "grade": self.grade}
        if self.reference:
            out["reference"] = self.reference
        return out


@dataclass(frozen=True)
class Assessment:
    """One computed score or recommendation for one patient at one date."""

    id: str
    name: str
    verdict: str
    statement: str
    source: Source
    inputs: tuple[Input, ...] = ()
    missing: tuple[str, ...] = ()
    value: float | None = None
    unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def sufficient(self) -> bool:
        """False when the verdict is ``insufficient data``."""
        return self.verdict != INSUFFICIENT

    @property
    def event_ids(self) -> list[str]:
        """Every record entry the assessment read, in input order, without repeats."""
        seen: dict[str, None] = {}
        for item in self.inputs:
            for eid in item.event_ids:
                seen.setdefault(eid, None)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        """The ``assessments[]`` item of ``cra patient assess --json`` (and of the answer JSON)."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "verdict": self.verdict}
        if self.value is not None:
            out["value"] = self.value
        if self.unit is not None:
            out["unit"] = self.unit
        out["statement"] = self.statement
        out["inputs"] = [i.to_json() for i in self.inputs]
        out["missing"] = list(self.missing)
        out["source"] = self.source.to_json()
        if self.details:
            out["details"] = self.details
        return out
