"""De-identification of free text for the feedback data set (HIPAA Safe Harbor style, rule based).

Rules replace what a clinician's question or a correction is likely to carry: the patient's id,
dates, contact details, record numbers, titled names, Synthea-style names (``Abe604``) and ages
over 89. Rules cannot catch every name; the export is a data set for review, not for publication.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["scrub"]

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "[ID]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[EMAIL]"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
        "[DATE]",
    ),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"), "[DATE]"),
    (re.compile(rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"), "[DATE]"),
    (re.compile(rf"\b\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}\b"), "[DATE]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    (re.compile(r"(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"), "[PHONE]"),
    (re.compile(r"\b(?:MRN|mrn|record)\s*(?:no\.?|number|#)?\s*[:#]?\s*[A-Z0-9-]{4,}\b"), "[MRN]"),
    (re.compile(r"\b\d{6,}\b"), "[NUMBER]"),
    (re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Mx)\.?\s+[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?"), "[NAME]"),
    (re.compile(r"\b[A-Z][a-z]+\d{2,4}\b"), "[NAME]"),
    (re.compile(r"\b(?:9\d|1[0-4]\d)[- ]?(?:year|yr)s?[- ]old\b", re.I), "[AGE 90+]"),
)


def scrub(text: str, identifiers: Iterable[str] = ()) -> str:
    """``text`` with known ``identifiers`` (patient ids) and the rules' matches replaced by tags."""
    for ident in sorted({i for i in identifiers if i}, key=len, reverse=True):
        text = text.replace(ident, "[PATIENT]")
    for pattern, tag in _RULES:
        text = pattern.sub(tag, text)
    return text
