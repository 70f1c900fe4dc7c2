"""Small builders every rule shares: the ``insufficient data`` result and number formatting."""

from __future__ import annotations

from collections.abc import Iterable

from assessments.model import INSUFFICIENT, Assessment, Input, Source

__all__ = ["fmt", "insufficient"]


def fmt(value: float, digits: int = 1) -> str:
    """A number the way a clinician writes it: ``68``, ``5.3``, never ``68.0``."""
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def insufficient(
    assessment_id: str,
    name: str,
    source: Source,
    missing: Iterable[str],
    inputs: Iterable[Input] = (),
    reason: str = "",
) -> Assessment:
    """The ``insufficient data`` result: which inputs are missing or stale, and what to measure next."""
    needed = tuple(dict.fromkeys(missing))
    statement = f"{name}: insufficient data"
    statement += f" ({reason})." if reason else f"; measure or record: {', '.join(needed)}."
    return Assessment(
        id=assessment_id,
        name=name,
        verdict=INSUFFICIENT,
        statement=statement,
        source=source,
        inputs=tuple(inputs),
        missing=needed,
    )
