"""One FHIR file -> timeline events, in chunks, with a per-file report at the end.

This is the reading half of indexing (parse, validate, map to events); it needs no store or
model, so it can run in a forked reader process while the parent embeds and writes.

Each event carries ``source_hash``, the hash of the FHIR resource it came from: two copies of one
resource (same id, same version) whose source differs are a conflict, which is reported and never
resolved silently (the copy read first is kept). ``_origin`` (file and position) travels with the
event to the writer for that report and is never stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from patient_index.events import BILLING_TYPES, TIMELINE_TYPES, resource_events
from patient_index.ids import FHIR_ID_RULE, is_fhir_id, shown_reference
from patient_index.model import Event
from patient_index.reader import iter_resources, owner_of
from patient_index.report import PatientReport
from patient_index.validation import is_unknown_type, validation_error

__all__ = ["FileEvents", "Message", "content_hash", "source_hash"]

# A chunk of event groups (each group: all events of one resource), or the file's final report.
Message = list[list[Event]] | PatientReport


class FileEvents:
    """Reads files into event chunks; calling it with a path yields the :data:`Message` stream."""

    def __init__(self, *, validate: bool = True, max_file_bytes: int = 2_000_000_000, chunk: int = 500):
        self.validate = validate
        self.max_file_bytes = max_file_bytes
        self.chunk = chunk

    def __call__(self, path: Path) -> Iterator[Message]:
        """Event chunks of one file, then its report (``files_read`` 1, or why it was skipped)."""
        report = PatientReport()
        source = str(path)
        size = path.stat().st_size
        if size == 0:
            report.files_skipped.append({"source": source, "reason": "empty file"})
        elif size > self.max_file_bytes:
            reason = f"file is {size / 1e9:.1f} GB, above the limit"
            report.files_skipped.append({"source": source, "reason": reason})
        else:
            groups: list[list[Event]] = []
            n_events = 0
            try:
                for group in self._groups(path, report):
                    groups.append(group)
                    n_events += len(group)
                    if n_events >= self.chunk:
                        yield groups
                        groups, n_events = [], 0
                report.files_read = 1
            except (ValueError, RecursionError) as exc:
                done = report.resources_read
                prefix = f"read partly ({done} resources before the error were indexed): " if done else ""
                reason = str(exc) if isinstance(exc, ValueError) else "JSON nested too deeply to read"
                report.files_skipped.append({"source": source, "reason": prefix + reason})
            if groups:
                yield groups
        yield report

    def _groups(self, path: Path, report: PatientReport) -> Iterator[list[Event]]:
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
                if is_unknown_type(rtype):
                    report.skip(source, item.position, rtype, "unknown resource type (not in FHIR R4)")
                else:  # supporting resources (Organization, Practitioner, Goal...): counted, not itemised
                    report.skipped_by_type[rtype] += 1
                continue
            if not r.get("id"):
                report.skip(source, item.position, rtype, "resource without an id")
                continue
            if self.validate:
                error = validation_error(r)
                if error:
                    report.skip(source, item.position, rtype, error)
                    continue
            if rtype == "Patient":
                pid = str(r["id"])
                aliases[f"Patient/{pid}"] = pid
                if item.full_url:
                    aliases[item.full_url] = pid
            if not is_fhir_id(str(r["id"])):  # checked with validation too; --no-validate skips that
                report.skip(source, item.position, rtype, f"id is not a valid FHIR id ({FHIR_ID_RULE})")
                continue
            owner = owner_of(r, aliases)
            if owner is None:
                ref = _reference(r)
                if isinstance(ref, str) and ref.startswith("urn:uuid:"):
                    pending.append((item.position, r))  # its Patient may come later in the bundle
                else:
                    report.skip(source, item.position, rtype, "no patient reference (subject or patient)")
                continue
            group = _group(r, owner, source, item.position, report)
            if group:
                yield group
        for position, r in pending:
            owner = owner_of(r, aliases)
            if owner is None:
                reason = f"reference {shown_reference(_reference(r))} does not name a Patient in this file"
                report.skip(source, position, str(r["resourceType"]), reason)
                continue
            group = _group(r, owner, source, position, report)
            if group:
                yield group


def _group(r: dict[str, Any], owner: str, source: str, position: str, report: PatientReport) -> list[Event]:
    """The events of one resource; none when the patient id it names could be no patient's id."""
    if not is_fhir_id(owner):
        reason = f"subject does not name a valid Patient id ({FHIR_ID_RULE})"
        report.skip(source, position, str(r["resourceType"]), reason)
        return []
    return _events_of(r, owner, report, source_hash(r), f"{source} {position}")


def _reference(r: dict[str, Any]) -> Any:
    holder = r.get("subject") or r.get("patient") or {}
    return holder.get("reference", "") if isinstance(holder, dict) else ""


def _canonical(value: Any) -> Any:
    """A resource without ``meta`` and reference strings: a Bundle names the patient and encounter
    ``urn:uuid:...``, a Bulk Data export ``Patient/x``; both are the same record."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k not in ("meta", "reference")}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def source_hash(resource: dict[str, Any]) -> str:
    """Hash of a FHIR resource's content (key order, ``meta`` and reference forms ignored): what
    tells two copies of one resource version apart."""
    canonical = json.dumps(_canonical(resource), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def content_hash(event: Event) -> str:
    """Hash of an event's payload: an unchanged event read again is not written again."""
    return hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _events_of(
    r: dict[str, Any], patient_id: str, report: PatientReport, digest: str, origin: str
) -> list[Event]:
    events = resource_events(r, patient_id)
    report.patients.add(patient_id)
    report.events_total += len(events)
    for e in events:
        e["content_hash"] = content_hash(e)  # here, so a reader process does the hashing
        e["source_hash"] = digest
        e["_origin"] = origin
        if not e.get("date"):
            report.events_without_date += 1
        if e.get("unit_flag"):
            report.unit_flags += 1
    return events
