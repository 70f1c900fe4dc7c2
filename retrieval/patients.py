"""The patient collection: layout, and search that is always confined to one patient inside Qdrant.

Isolation is a safety rule no setting turns off: every read here carries the patient-id
condition into the store query itself, so another patient's points are never even scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retrieval.store import RRF_K, VectorStore
from retrieval.types import AnyOf, CollectionSpec, Equals, Filter, Hit, IndexKind, Range

if TYPE_CHECKING:  # types only: the encoders pull in numpy, which cra --help and info never need
    from retrieval.embedders import DenseEncoder, SparseEncoder

__all__ = [
    "PATIENT_INDEXES",
    "SUMMARY_TYPES",
    "PatientSearch",
    "patient_filter",
    "patient_hit_json",
    "patient_spec",
]

PATIENT_INDEXES: dict[str, IndexKind] = {
    "patient_id": "keyword",
    "resource_type": "keyword",
    "resource_key": "keyword",
    "code": "keyword",
    "category": "keyword",
    "status": "keyword",
    "date_ts": "float",
}


# The resource types a summary is computed from (encounters, procedures, reports and notes are
# searched, not summarised); reading only these keeps summaries fast on long records.
SUMMARY_TYPES = (
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Observation",
)


def patient_spec(dense_dim: int, name: str = "patients") -> CollectionSpec:
    """Layout of the patient collection."""
    return CollectionSpec(
        name=name, dense_dim=dense_dim, indexes=dict(PATIENT_INDEXES), tenant_key="patient_id"
    )


def patient_filter(
    patient_id: str,
    *,
    since_ts: float | None = None,
    until_ts: float | None = None,
    types: Sequence[str] = (),
    codes: Sequence[str] = (),
) -> Filter:
    """The store filter for one patient (always first), optionally by time window, types and codes."""
    if not patient_id or not patient_id.strip():
        raise ValueError("a patient id is required")
    must: list[Any] = [Equals("patient_id", patient_id)]
    if since_ts is not None or until_ts is not None:
        must.append(Range("date_ts", gte=since_ts, lte=until_ts))
    if types:
        must.append(AnyOf("resource_type", tuple(types)))
    if codes:
        must.append(AnyOf("code", tuple(codes)))
    return Filter(must=tuple(must))


def patient_hit_json(hit: Hit) -> dict[str, Any]:
    """The public JSON shape of a patient search hit."""
    p = hit.payload
    return {
        "id": hit.id,
        "score": round(hit.score, 6),
        "patient_id": p.get("patient_id", ""),
        "resource_type": p.get("resource_type", ""),
        "resource_id": p.get("resource_id", ""),
        "date": p.get("date", ""),
        "text": p.get("text", ""),
        "code": p.get("code", ""),
        "value": p.get("value"),
        "unit": p.get("unit", ""),
    }


@dataclass
class PatientSearch:
    """Hybrid search and event listing inside one patient's record."""

    store: VectorStore
    dense: DenseEncoder
    sparse: SparseEncoder
    collection: str = "patients"
    rrf_k: int = RRF_K

    def search(self, patient_id: str, query: str, *, k: int = 10, where: Filter | None = None) -> list[Hit]:
        """Top ``k`` events of ``patient_id`` for ``query``; ``where`` can only narrow the patient filter."""
        if not query.strip():
            return []
        return self.search_encoded(patient_id, query, self.dense.encode_query(query), k=k, where=where)

    def search_encoded(
        self, patient_id: str, query: str, dense: Sequence[float], *, k: int = 10, where: Filter | None = None
    ) -> list[Hit]:
        """As :meth:`search`, with the query's dense vector computed already."""
        scope = patient_filter(patient_id).and_(where)
        if not query.strip():
            return []
        sparse = self.sparse.encode_query(query)
        if not sparse.indices:
            hits = self.store.search_dense(self.collection, dense, limit=k, where=scope)
        else:
            hits = self.store.search_hybrid(
                self.collection, dense, sparse, limit=k, where=scope, prefetch=max(50, k), rrf_k=self.rrf_k
            )
        return [h for h in hits if h.payload.get("patient_id") == patient_id]  # belt and braces

    def events(
        self, patient_id: str, where: Filter | None = None, *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every event payload of ``patient_id`` (with ``event_id``), straight from the store.

        ``fields`` limits the payload keys read (``patient_id`` is always among them).
        """
        scope = patient_filter(patient_id).and_(where)
        keys = None if fields is None else sorted({*fields, "patient_id"})
        for pid, payload in self.store.scroll(self.collection, scope, fields=keys):
            if payload.get("patient_id") == patient_id:
                payload.setdefault("event_id", pid)
                yield payload
