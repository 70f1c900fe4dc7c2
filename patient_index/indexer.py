"""Index FHIR R4 files as patient timelines: validated, idempotent, versioned, in bounded memory.

* Each resource is validated with ``fhir.resources`` (R4B models, which read R4 content);
  an invalid one is reported with its position and the first validation error, the rest go on.
* Event ids come from (patient, resource type, resource id, part), so the same resource read
  twice, from one file or another, is one event. A payload hash (computed when the file is
  read) makes an unchanged re-read a no-op; an older ``meta.versionId``/``lastUpdated`` never overwrites a newer one; a newer
  version replaces the old and removes parts (components, note chunks) it no longer has.
* Two copies of a resource with the same id and version whose source content differs are a
  conflict, reported with their positions, never resolved silently: the copy read first stays
  (for a versioned resource also against the copy already indexed; an unversioned resource read
  again in a later batch or run replaces the stored one, as it has no version to order them by).
* Synthea-like records repeat the same display strings endlessly, so the dense vector is
  computed from what an event *is* (type, category, display) and cached per distinct text;
  the BM25 vector carries the full text with its values and dates.
* Reading, validation and event mapping run in forked reader processes
  (:mod:`patient_index.pipeline`) while this process embeds and writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from patient_index.events import TIMELINE_TYPES
from patient_index.file_events import FileEvents
from patient_index.model import Event
from patient_index.pipeline import OrderedReaders
from patient_index.reader import expand_patient_paths
from patient_index.report import PatientReport
from patient_index.validation import load_models
from retrieval.embedders import DenseEncoder, SparseEncoder
from retrieval.patients import patient_filter, patient_spec
from retrieval.store import VectorStore
from retrieval.types import AnyOf, Equals, Filter, PointRecord

__all__ = ["PatientIndexer", "PatientReport", "delete_patient", "dense_key"]

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]


def dense_key(event: Event) -> str:
    """The text the dense vector is computed from: what the event is, not its value or date."""
    if event.get("resource_type") == "DocumentReference":
        return event.get("text", "")
    return f"{event.get('resource_type', '')} | {event.get('category', '')} | {event.get('display', '')}"


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
        readers: int | None = None,
    ) -> None:
        """Set up an indexer over one store and its encoders.

        Args:
            store: The vector store holding the patient collection.
            dense: Encoder for the dense vectors (cached per distinct text).
            sparse: Encoder for the BM25 vectors.
            collection: Name of the patient collection.
            validate: Validate every resource with ``fhir.resources``.
            batch_size: Events written per batch.
            max_file_bytes: Larger files are skipped and reported.
            readers: Forked processes that read, validate and map files (0: in this process;
                default: two on a machine with two or more cores).
        """
        self.store = store
        self.dense = dense
        self.sparse = sparse
        self.collection = collection
        self.validate = validate
        self.batch_size = batch_size
        self.max_file_bytes = max_file_bytes
        self.readers = readers if readers is not None else (2 if (os.cpu_count() or 1) >= 2 else 0)
        self._vectors: dict[str, list[float]] = {}
        self._quiet: Callable[[], AbstractContextManager[None]] = nullcontext

    # -- the run ---------------------------------------------------------------
    def index(self, paths: Sequence[str], progress: ProgressFn | None = None) -> PatientReport:
        """Read, validate, map and write every file; returns what was done and what was skipped."""
        started = time.perf_counter()
        report = PatientReport()
        self.store.ensure_collection(patient_spec(self.dense.dim, self.collection))
        files, missing = expand_patient_paths(list(paths))
        report.files_skipped.extend(missing)
        if self.validate:
            load_models(TIMELINE_TYPES)
        read = FileEvents(validate=self.validate, max_file_bytes=self.max_file_bytes)
        buffer: list[Event] = []
        current = -1
        with OrderedReaders(read, files, self.readers) as readers:
            self._quiet = readers.paused
            try:
                for n, message in readers:
                    if progress and n != current:
                        progress("files", n + 1, len(files))
                    current = n
                    if isinstance(message, PatientReport):
                        report.absorb(message)
                        continue
                    for group in message:
                        buffer.extend(group)  # whole resources only: parts never straddle batches
                        if len(buffer) >= self.batch_size:
                            self._flush(buffer, report)
                            buffer = []
                if buffer:
                    self._flush(buffer, report)
            finally:
                self._quiet = nullcontext
        report.seconds = time.perf_counter() - started
        return report

    # -- writing -------------------------------------------------------------
    def _flush(self, events: list[Event], report: PatientReport) -> None:
        """Write a batch, deciding versions per *resource* (all its parts together), not per event."""
        # 1. Within the batch, keep only the newest version of each resource; a copy of the same
        #    version with other source content is a conflict: the copy read first stays.
        by_resource: dict[tuple[str, str], list[Event]] = {}
        rejected: set[tuple[tuple[str, str], str]] = set()
        for e in events:
            key = (e["patient_id"], f"{e['resource_type']}/{e['resource_id']}")
            group = by_resource.get(key)
            if group is None or _newer(e.get("version", ""), group[0].get("version", "")):
                if group is not None:
                    report.events_older_version += len(group)
                by_resource[key] = [e]
            elif e.get("version", "") == group[0].get("version", ""):
                if e.get("source_hash") != group[0].get("source_hash"):
                    copy = (key, str(e.get("_origin", "")))
                    if copy not in rejected:
                        rejected.add(copy)
                        kept = f"the copy at {group[0].get('_origin', 'an earlier position')}"
                        report.conflict(copy[1], key[1], e.get("version", ""), kept)
                elif all(x["event_id"] != e["event_id"] for x in group):
                    group.append(e)
            else:
                report.events_older_version += 1
        # 2. What the store holds for these resources: by event id, then by resource for the rest.
        ids = [e["event_id"] for group in by_resource.values() for e in group]
        existing = {h.id: h.payload for h in self.store.retrieve(self.collection, ids)}
        stored: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}  # resource -> {id: (version, source)}
        for eid, found in existing.items():
            key = (str(found.get("patient_id")), str(found.get("resource_key")))
            stored.setdefault(key, {})[eid] = (
                str(found.get("version", "")),
                str(found.get("source_hash", "")),
            )
        unseen = sorted({k for k in by_resource if k not in stored})
        for start in range(0, len(unseen), 1000):
            keys = tuple(k[1] for k in unseen[start : start + 1000])
            where = Filter(must=(AnyOf("resource_key", keys),))
            fields = ["patient_id", "resource_key", "version", "source_hash"]
            for eid, found in self.store.scroll(self.collection, where, fields=fields):
                key = (str(found.get("patient_id")), str(found.get("resource_key")))
                if key in by_resource:
                    stored.setdefault(key, {})[eid] = (
                        str(found.get("version", "")),
                        str(found.get("source_hash", "")),
                    )
        # 3. Per resource: an older incoming version is ignored; a newer one replaces every old part;
        #    the same version from other source content conflicts with the stored copy, which stays.
        to_write: list[Event] = []
        stale: list[str] = []
        for key, group in by_resource.items():
            version = group[0].get("version", "")
            old = {eid: v for eid, (v, _) in stored.get(key, {}).items()}
            if any(_newer(v, version) for v in old.values()):
                report.events_older_version += len(group)
                continue
            digest = str(group[0].get("source_hash") or "")
            if (
                version
                and digest
                and any(v == version and h and h != digest for v, h in stored.get(key, {}).values())
            ):
                report.conflict(str(group[0].get("_origin", "")), key[1], version, "the copy already indexed")
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
                prior = existing.get(e["event_id"])
                if prior is not None and prior.get("content_hash") == e["content_hash"]:
                    report.events_unchanged += 1
                    continue
                payload: dict[str, Any] = {k: v for k, v in e.items() if k != "_origin"}
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
            with self._quiet():  # the model gets both cores
                vectors = self.dense.encode(fresh)
            report.seconds_encoding += time.perf_counter() - t0
            report.distinct_texts_embedded += len(fresh)
            for k, v in zip(fresh, vectors, strict=True):
                self._vectors[k] = [float(x) for x in v]
        sparse = self.sparse.encode_documents([e.get("text", "") for e in events])
        points = [
            PointRecord(id=e["event_id"], dense=self._vectors[k], sparse=s, payload=e)
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
