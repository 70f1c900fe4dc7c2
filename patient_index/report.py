"""What one ``cra index patients`` run did: counts, skipped resources and files, conflicts, timings.

Reasons name the position, the field and the rule, never a value read from the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PatientReport"]

_MAX_DETAILS = 200


@dataclass
class PatientReport:
    """Counts of one run (or of one file, merged into the run's report with :meth:`absorb`)."""

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
    conflicts_total: int = 0
    conflicts: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    seconds_encoding: float = 0.0

    def skip(self, source: str, position: str, rtype: str, reason: str) -> None:
        """Count a skipped resource; the first few are itemised with their position and reason."""
        self.skipped_by_type[rtype] += 1
        if len(self.skipped) < _MAX_DETAILS:
            self.skipped.append({"source": source, "position": position, "type": rtype, "reason": reason})

    def conflict(self, origin: str, resource: str, version: str, kept: str) -> None:
        """Count a copy of a resource (same id, same version) whose content differs from the one kept."""
        self.conflicts_total += 1
        if len(self.conflicts) < _MAX_DETAILS:
            self.conflicts.append(
                {
                    "source": origin,
                    "resource": resource,
                    "version": version or "(none)",
                    "reason": f"same id and version as {kept}, different content; {kept} is kept",
                }
            )

    def absorb(self, part: PatientReport) -> None:
        """Add the reading counts of one file (read elsewhere, perhaps in another process)."""
        self.files_read += part.files_read
        self.patients |= part.patients
        self.resources_read += part.resources_read
        self.events_total += part.events_total
        self.events_without_date += part.events_without_date
        self.unit_flags += part.unit_flags
        self.skipped_by_type.update(part.skipped_by_type)
        self.skipped.extend(part.skipped[: max(0, _MAX_DETAILS - len(self.skipped))])
        self.files_skipped.extend(part.files_skipped)
        self.conflicts_total += part.conflicts_total
        self.conflicts.extend(part.conflicts[: max(0, _MAX_DETAILS - len(self.conflicts))])

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON (what ``--json`` prints)."""
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
            "conflicting_duplicates": self.conflicts_total,
            "conflicts": self.conflicts,
            "seconds": round(self.seconds, 3),
            "seconds_encoding": round(self.seconds_encoding, 3),
            "events_per_second": round(self.events_total / self.seconds, 1) if self.seconds else None,
        }
