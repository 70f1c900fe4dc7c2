"""The patient side of retrieval for the agent: one patient's summary and search, isolated in the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from patient_index.summary import build_summary
from retrieval.patients import SUMMARY_TYPES, PatientSearch, patient_filter
from retrieval.types import AnyOf, Filter, Hit, Range

__all__ = ["PatientSource", "StorePatientSource", "to_timestamp"]

_REF_FIELDS = ("resource_type", "resource_id", "date")


def to_timestamp(day: str | None) -> float | None:
    """Seconds since the epoch at the start of an ISO day (the store's ``date_ts`` scale)."""
    if not day:
        return None
    from datetime import UTC, datetime

    return datetime.combine(date.fromisoformat(day[:10]), datetime.min.time(), tzinfo=UTC).timestamp()


class PatientSource(Protocol):
    """What the agent needs from the patient store; every call is confined to one patient."""

    def exists(self, patient_id: str) -> bool:
        """Whether any record of this patient is indexed."""
        ...

    def context(
        self, patient_id: str, as_of: date | None = None, *, extra_types: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``summary`` (see ``build_summary``), ``refs`` (event id -> resource type, id and date) and
        ``events``: the events read (the summarised types plus ``extra_types``), for the
        computations that need raw values (assessments, direct record questions); callers keep
        them out of persisted state."""
        ...

    def search(
        self,
        patient_id: str,
        query: str,
        dense: Sequence[float],
        *,
        k: int,
        since: str | None = None,
        until: str | None = None,
        types: Sequence[str] = (),
    ) -> list[Hit]:
        """Hybrid search inside the patient's record (query vector computed already); scores are cosines."""
        ...


def _cited_ids(node: Any) -> set[str]:
    """Every event id under a ``cite`` key anywhere in the summary."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "cite" and isinstance(value, list):
                found.update(str(v) for v in value)
            else:
                found |= _cited_ids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _cited_ids(value)
    return found


@dataclass
class StorePatientSource:
    """``PatientSource`` over the Qdrant patient collection."""

    search_api: PatientSearch

    def exists(self, patient_id: str) -> bool:
        api = self.search_api
        return api.store.has_collection(api.collection) and (
            api.store.count(api.collection, patient_filter(patient_id)) > 0
        )

    def context(
        self, patient_id: str, as_of: date | None = None, *, extra_types: Sequence[str] = ()
    ) -> dict[str, Any]:
        types = tuple(dict.fromkeys((*SUMMARY_TYPES, *extra_types)))
        events = list(self.search_api.events(patient_id, Filter(must=(AnyOf("resource_type", types),))))
        summarised = [e for e in events if e.get("resource_type") in SUMMARY_TYPES]
        if not summarised:
            return {"summary": None, "refs": {}, "events": []}
        summary = build_summary(summarised, as_of=as_of)
        cited = _cited_ids(summary)
        refs = {
            str(e["event_id"]): {k: e.get(k, "") for k in _REF_FIELDS}
            for e in events
            if str(e.get("event_id")) in cited or e.get("resource_type") == "Patient"
        }
        return {"summary": summary, "refs": refs, "events": events}

    def search(
        self,
        patient_id: str,
        query: str,
        dense: Sequence[float],
        *,
        k: int,
        since: str | None = None,
        until: str | None = None,
        types: Sequence[str] = (),
    ) -> list[Hit]:
        conditions: list[Any] = []
        lo, hi = to_timestamp(since), to_timestamp(until)
        if lo is not None or hi is not None:
            conditions.append(Range("date_ts", gte=lo, lte=None if hi is None else hi + 86399.0))
        if types:
            conditions.append(AnyOf("resource_type", tuple(types)))
        where = Filter(must=tuple(conditions)) if conditions else None
        hits = self.search_api.search_encoded(patient_id, query, dense, k=k, where=where)
        # Fused scores are ranks; the dense cosine says how close each entry is to the question.
        api = self.search_api
        scope = patient_filter(patient_id).and_(where)
        near = api.store.search_dense(api.collection, dense, limit=max(4 * k, 20), where=scope)
        cosine = {h.id: h.score for h in near}
        # An entry found only lexically, outside the dense top list, gets 0: its closeness is unknown.
        return [Hit(h.id, round(cosine.get(h.id, 0.0), 4), h.payload) for h in hits]
