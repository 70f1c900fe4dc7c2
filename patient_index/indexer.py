"""Index FHIR R4 files as patient timelines: validated, idempotent, versioned, in bounded memory.

* Each resource is validated with ``fhir.resources`` (R4B models, which read R4 content);
  an invalid one is reported with its position and the first validation error, the rest go on.
* Event ids come from (patient, resource type, resource id, part), so the same resource read
  twice, from one file or another, is one event. A payload hash makes an unchanged re-read a
  no-op; an older ``meta.versionId``/``lastUpdated`` never overwrites a newer one; a newer
  version replaces the old and removes parts (components, note chunks) it no longer has.
* Synthea-like records repeat the same display strings endlessly, so the dense vector is
  computed from what an event *is* (type, category, display) and cached per distinct text;
  the BM25 vector carries the full text with its values and dates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patient_index.events import BILLING_TYPES, TIMELINE_TYPES, resource_events
from patient_index.model import Event
from patient_index.reader import expand_patient_paths, iter_resources, owner_of
from retrieval.embedders import DenseEncoder, SparseEncoder
from retrieval.patients import patient_filter, patient_spec
from retrieval.store import VectorStore
from retrieval.types import AnyOf, Equals, Filter, PointRecord

__all__ = ["PatientIndexer", "PatientReport", "delete_patient", "dense_key"]

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]
_MAX_DETAILS = 200


@dataclass
class PatientReport:
    files_read: int = 0
    patients: set[str] = field(default_factory=set)
    resources_read: int = 0
    events_total: int = 0
    events_written: int = 0
    events_unchanged: int = 0
    events_older_version: int = 0
    parts_removed: int = 0
    events_without_date: int = 0
    unit_flags: int = 0
    distinct_texts_embedded: int = 0
    skipped_by_type: Counter[str] = field(default_factory=Counter)
    skipped: list[dict[str, str]] = field(default_factory=list)
    files_skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    seconds_encoding: float = 0.0

    def skip(self, source: str, position: str, rtype: str, reason: str) -> None:
        self.skipped_by_type[rtype] += 1
        if len(self.skipped) < _MAX_DETAILS:
            self.skipped.append({"source": source, "position": position, "type": rtype, "reason": reason})

    def as_json(self) -> dict[str, Any]:
        return {
            "files_read": self.files_read,
            "patients": len(self.patients),
            "resources_read": self.resources_read,
            "events_total": self.events_total,
            "events_written": self.events_written,
            "events_unchanged": self.events_unchanged,
            "events_older_version_ignored": self.events_older_version,
            "parts_removed": self.parts_removed,
            "events_without_date": self.events_without_date,
            "unit_flags": self.unit_flags,
            "distinct_texts_embedded": self.distinct_texts_embedded,
            "resources_skipped": sum(self.skipped_by_type.values()),
            "skipped_by_type": dict(sorted(self.skipped_by_type.items())),
            "skipped": self.skipped,
            "files_skipped": self.files_skipped,
            "seconds": round(self.seconds, 3),
            "seconds_encoding": round(self.seconds_encoding, 3),
            "events_per_second": round(self.events_total / self.seconds, 1) if self.seconds else None,
        }


def dense_key(event: Event) -> str:
    """The text the dense vector is computed from: what the event is, not its value or date."""
    if event.get("resource_type") == "DocumentReference":
        return event.get("text", "")
    return f"{event.get('resource_type', '')} | {event.get('category', '')} | {event.get('display', '')}"


def _payload_hash(event: Event) -> str:
    return hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _newer(a: str, b: str) -> bool:
    """Is version ``a`` newer than ``b``? Numeric versionIds compare as numbers, timestamps as text."""
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b


class PatientIndexer:
    """Keeps the patient collection in step with FHIR files."""

    def __init__(
        self,
        store: VectorStore,
        dense: DenseEncoder,
        sparse: SparseEncoder,
        *,
        collection: str = "patients",
        validate: bool = True,
        batch_size: int = 4000,
        max_file_bytes: int = 2_000_000_000,
    ) -> None:
        self.store = store
        self.dense = dense
        self.sparse = sparse
        self.collection = collection
        self.validate = validate
        self.batch_size = batch_size
        self.max_file_bytes = max_file_bytes
        self._vectors: dict[str, list[float]] = {}

    # -- validation ----------------------------------------------------------
    @staticmethod
    def _is_unknown_type(rtype: str) -> bool:
        from fhir.resources.R4B import get_fhir_model_class

        try:
            get_fhir_model_class(rtype)
        except (KeyError, ValueError):  # fhir.resources raises ValueError("... is not a valid FHIR Model")
            return True
        return False

    @staticmethod
    def _validation_error(resource: dict[str, Any]) -> str | None:
        from fhir.resources.R4B import get_fhir_model_class

        try:
            model = get_fhir_model_class(resource["resourceType"])
        except (KeyError, ValueError):
            return "unknown resource type (not in FHIR R4)"
        try:
            model.model_validate(resource)
        except Exception as exc:  # pydantic's ValidationError, or fhir-core's own errors
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            return "invalid FHIR: " + "; ".join(lines[1:3] if len(lines) > 1 else lines[:1])[:300]
        return None

    # -- the run ---------------------------------------------------------------
    def index(self, paths: Sequence[str], progress: ProgressFn | None = None) -> PatientReport:
        started = time.perf_counter()
        report = PatientReport()
        self.store.ensure_collection(patient_spec(self.dense.dim, self.collection))
        files, missing = expand_patient_paths(list(paths))
        report.files_skipped.extend(missing)
        buffer: list[Event] = []
        for n, path in enumerate(files, 1):
            if progress:
                progress("files", n, len(files))
            source = str(path)
            size = path.stat().st_size
            if size == 0:
                report.files_skipped.append({"source": source, "reason": "empty file"})
                continue
            if size > self.max_file_bytes:
                report.files_skipped.append(
                    {"source": source, "reason": f"file is {size / 1e9:.1f} GB, above the limit"}
                )
                continue
            read_before = report.resources_read
            try:
                for resource_events_ in self._file_events(path, report):
                    buffer.extend(resource_events_)  # whole resources only: parts never straddle batches
                    if len(buffer) >= self.batch_size:
                        self._flush(buffer, report)
                        buffer = []
            except ValueError as exc:
                done = report.resources_read - read_before
                prefix = f"read partly ({done} resources before the error were indexed): " if done else ""
                report.files_skipped.append({"source": source, "reason": prefix + str(exc)})
                continue
            report.files_read += 1
        if buffer:
            self._flush(buffer, report)
        report.seconds = time.perf_counter() - started
        return report

    def _file_events(self, path: Path, report: PatientReport) -> Any:
        source = str(path)
        aliases: dict[str, str] = {}
        pending: list[tuple[str, dict[str, Any]]] = []
        for item in iter_resources(path):
            if item.resource is None:
                report.skip(source, item.position, "?", item.error)
                continue
            r = item.resource
            rtype = str(r.get("resourceType"))
            report.resources_read += 1
            if rtype in BILLING_TYPES:
                report.skipped_by_type[rtype] += 1  # counted, not indexed, not itemised
                continue
            if rtype not in TIMELINE_TYPES:
                if self._is_unknown_type(rtype):
                    report.skip(source, item.position, rtype, "unknown resource type (not in FHIR R4)")
                else:  # supporting resources (Organization, Practitioner, Goal...): counted, not itemised
                    report.skipped_by_type[rtype] += 1
                continue
            if not r.get("id"):
                report.skip(source, item.position, rtype, "resource without an id")
                continue
            if self.validate:
                error = self._validation_error(r)
                if error:
                    report.skip(source, item.position, rtype, error)
                    continue
            if rtype == "Patient":
                pid = str(r["id"])
                aliases[f"Patient/{pid}"] = pid
                if item.full_url:
                    aliases[item.full_url] = pid
            owner = owner_of(r, aliases)
            if owner is None:
                ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
                if isinstance(ref, str) and ref.startswith("urn:uuid:"):
                    pending.append((item.position, r))  # its Patient may come later in the bundle
                else:
                    report.skip(source, item.position, rtype, "no patient reference (subject or patient)")
                continue
            yield self._events_of(r, owner, report)
        for position, r in pending:
            owner = owner_of(r, aliases)
            if owner is None:
                ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
                report.skip(
                    source,
                    position,
                    str(r["resourceType"]),
                    f"reference {ref} does not name a Patient in this file",
                )
                continue
            yield self._events_of(r, owner, report)

    def _events_of(self, r: dict[str, Any], patient_id: str, report: PatientReport) -> list[Event]:
        events = resource_events(r, patient_id)
        report.patients.add(patient_id)
        for e in events:
            report.events_total += 1
            if not e.get("date"):
                report.events_without_date += 1
            if e.get("unit_flag"):
                report.unit_flags += 1
        return events

    # -- writing -------------------------------------------------------------
    def _flush(self, events: list[Event], report: PatientReport) -> None:
        """Write a batch, deciding versions per *resource* (all its parts together), not per event."""
        # 1. Within the batch, keep only the newest version of each resource.
        by_resource: dict[tuple[str, str], list[Event]] = {}
        for e in events:
            key = (e["patient_id"], f"{e['resource_type']}/{e['resource_id']}")
            group = by_resource.get(key)
            if group is None or _newer(e.get("version", ""), group[0].get("version", "")):
                if group is not None:
                    report.events_older_version += len(group)
                by_resource[key] = [e]
            elif e.get("version", "") == group[0].get("version", ""):
                if all(x["event_id"] != e["event_id"] for x in group):
                    group.append(e)
            else:
                report.events_older_version += 1
        # 2. What the store holds for these resources: by event id, then by resource for the rest.
        ids = [e["event_id"] for group in by_resource.values() for e in group]
        existing = {h.id: h.payload for h in self.store.retrieve(self.collection, ids)}
        stored: dict[tuple[str, str], dict[str, str]] = {}  # resource -> {event id: version}
        for eid, found in existing.items():
            key = (str(found.get("patient_id")), str(found.get("resource_key")))
            stored.setdefault(key, {})[eid] = str(found.get("version", ""))
        unseen = sorted({k for k in by_resource if k not in stored})
        for start in range(0, len(unseen), 1000):
            keys = tuple(k[1] for k in unseen[start : start + 1000])
            where = Filter(must=(AnyOf("resource_key", keys),))
            for eid, found in self.store.scroll(
                self.collection, where, fields=["patient_id", "resource_key", "version"]
            ):
                key = (str(found.get("patient_id")), str(found.get("resource_key")))
                if key in by_resource:
                    stored.setdefault(key, {})[eid] = str(found.get("version", ""))
        # 3. Per resource: an older incoming version is ignored; a newer one replaces every old part.
        to_write: list[Event] = []
        stale: list[str] = []
        for key, group in by_resource.items():
            version = group[0].get("version", "")
            old = stored.get(key, {})
            if any(_newer(v, version) for v in old.values()):
                report.events_older_version += len(group)
                continue
            if old and set(old.values()) != {version}:
                # ``old`` may hold only the ids this batch shares with the stored version: read the
                # resource whole before removing the parts the new version no longer has.
                where = Filter(must=(Equals("patient_id", key[0]), Equals("resource_key", key[1])))
                old = {
                    i: str(p.get("version", ""))
                    for i, p in self.store.scroll(self.collection, where, fields=["version"])
                }
                keep = {e["event_id"] for e in group}
                stale.extend(i for i in old if i not in keep)
            for e in group:
                e_hash = _payload_hash(e)
                prior = existing.get(e["event_id"])
                if prior is not None and prior.get("content_hash") == e_hash:
                    report.events_unchanged += 1
                    continue
                payload: dict[str, Any] = dict(e)
                payload["content_hash"] = e_hash
                payload["resource_key"] = key[1]
                to_write.append(payload)
        if to_write:
            self._write(to_write, report)
        if stale:  # after the new version is stored, never before
            self.store.delete_ids(self.collection, stale)
            report.parts_removed += len(stale)

    def _write(self, events: list[Event], report: PatientReport) -> None:
        keys = [dense_key(e) for e in events]
        if len(self._vectors) > 200_000:  # bound the cache on enormous, varied inputs
            self._vectors.clear()
        fresh = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if fresh:
            t0 = time.perf_counter()
            vectors = self.dense.encode(fresh)
            report.seconds_encoding += time.perf_counter() - t0
            report.distinct_texts_embedded += len(fresh)
            for k, v in zip(fresh, vectors, strict=True):
                self._vectors[k] = [float(x) for x in v]
        sparse = self.sparse.encode_documents([e.get("text", "") for e in events])
        points = [
            PointRecord(id=e["event_id"], dense=self._vectors[k], sparse=s, payload=dict(e))
            for e, k, s in zip(events, keys, sparse, strict=True)
        ]
        self.store.upsert(self.collection, points)
        report.events_written += len(points)

    def delete_patient(self, patient_id: str) -> int:
        """Remove every event of one patient (right to erasure); returns how many there were."""
        return delete_patient(self.store, self.collection, patient_id)


def delete_patient(store: VectorStore, collection: str, patient_id: str) -> int:
    """Remove every event of one patient (right to erasure); returns how many there were."""
    if not store.has_collection(collection):
        return 0
    return store.delete_where(collection, patient_filter(patient_id))
