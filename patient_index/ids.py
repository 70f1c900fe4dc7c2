"""FHIR resource ids: the pattern every id must match, and references safe to name in a report.

Reports and error messages name *where* something is wrong, never the content: a value read from
a file may be anything (a name, a social security number pasted in the wrong field), so only
strings that match the shape of an id are echoed.
"""

from __future__ import annotations

import re

__all__ = ["FHIR_ID", "FHIR_ID_RULE", "is_fhir_id", "shown_reference"]

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
FHIR_ID_RULE = "a FHIR id is 1 to 64 of A-Z, a-z, 0-9, '-' and '.'"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SAFE_REFERENCE = re.compile(rf"urn:uuid:{_UUID}|[A-Z][A-Za-z]{{1,63}}/[A-Za-z0-9\-.]{{1,64}}")


def is_fhir_id(value: object) -> bool:
    """Whether ``value`` is a string any FHIR resource could have as its id."""
    return isinstance(value, str) and FHIR_ID.fullmatch(value) is not None


def shown_reference(reference: object) -> str:
    """A reference as a report may print it: itself when it has the shape of one, else a placeholder."""
    if isinstance(reference, str) and _SAFE_REFERENCE.fullmatch(reference):
        return reference
    return "(a reference that is not a valid FHIR reference; not shown)"
