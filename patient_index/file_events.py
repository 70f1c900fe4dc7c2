"""One FHIR file -> timeline events, in chunks, with a per-file report at the end.

This is the reading half of indexing (parse, validate, map to events); it needs no store or
model, so it can run in a forked reader process while the parent embeds and writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from patient_index.events import BILLING_TYPES, TIMELINE_TYPES, resource_events
from patient_index.model import Event
from patient_index.reader import iter_resources, owner_of
from patient_index.report import PatientReport
from patient_index.validation import is_unknown_type, validation_error

__all__ = ["FileEvents", "Message", "content_hash"]

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
            except ValueError as exc:
                done = report.resources_read
                prefix = f"read partly ({done} resources before the error were indexed): " if done else ""
                report.files_skipped.append({"source": source, "reason": prefix + str(exc)})
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
            owner = owner_of(r, aliases)
            if owner is None:
                ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
                if isinstance(ref, str) and ref.startswith("urn:uuid:"):
                    pending.append((item.position, r))  # its Patient may come later in the bundle
                else:
                    report.skip(source, item.position, rtype, "no patient reference (subject or patient)")
                continue
            yield _events_of(r, owner, report)
        for position, r in pending:
            owner = owner_of(r, aliases)
            if owner is None:
                ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
                reason = f"reference {ref} does not name a Patient in this file"
                report.skip(source, position, str(r["resourceType"]), reason)
                continue
            yield _events_of(r, owner, report)


def content_hash(event: Event) -> str:
    """Hash of an event's payload: an unchanged event read again is not written again."""
    return hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _events_of(r: dict[str, Any], patient_id: str, report: PatientReport) -> list[Event]:
    events = resource_events(r, patient_id)
    report.patients.add(patient_id)
    report.events_total += len(events)
    for e in events:
        e["content_hash"] = content_hash(e)  # here, so a reader process does the hashing
        if not e.get("date"):
            report.events_without_date += 1
        if e.get("unit_flag"):
            report.unit_flags += 1
    return events
