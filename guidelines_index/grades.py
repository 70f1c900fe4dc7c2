"""Recommendation strength and evidence level, as guideline text states them, in one normal form."""

from __future__ import annotations

import re

__all__ = ["extract_grades"]

_CLASS = r"(?:I{1,3}|IIa|IIb|III)(?:\s*:\s*(?:No Benefit|Harm))?"
_LOE = r"(?:[ABC](?:-(?:R|NR|LD|EO))?)"

_END = r"(?![\w-])"
_FACILITY = r"trauma|neonatal|nursery|NICU|intensive|care|cent(?:er|re)|facility|unit|hospital|designation"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # ACC/AHA style: "Class IIa, Level of Evidence B-R", "Class I; LOE: A", "COR I, LOE B-NR"
    (
        re.compile(
            rf"\b(?:Class|COR)\s+(?P<cls>{_CLASS})\s*[,;]?\s*(?:Level of Evidence|LOE)\s*:?\s*(?P<loe>{_LOE})\b"
        ),
        "Class {cls}, LOE {loe}",
    ),
    (re.compile(rf"\((?:Class|COR)\s+(?P<cls>{_CLASS})\)"), "Class {cls}"),
    # GRADE style, in brackets or with the word "recommendation", so "a strong, low-cost drug" is prose:
    # "(Strong, Moderate)", "(Conditional, Very low certainty)", "Weak recommendation, Low quality of evidence"
    (
        re.compile(
            r"(?:\(|\b)(?P<s>Strong|Weak|Conditional)(?:\s*,|\s+recommendation\s*,)\s*(?P<q>High|Moderate|Low|Very low)"
            rf"(?:[\s-]+(?:certainty|quality))?{_END}",
            re.IGNORECASE,
        ),
        "{s} recommendation, {q} certainty",
    ),
    (re.compile(r"\((?P<s>Strong|Weak|Conditional) [Rr]ecommendation\)"), "{s} recommendation"),
    # KDIGO / GRADE numeric: "Grade 2C", "(1B)"; a bare "(2D)" also names two-dimensional imaging, so it
    # counts only in a sentence that recommends or suggests
    (re.compile(r"\bGrade\s+(?P<g>[12][A-D])\b"), "Grade {g}"),
    (re.compile(r"\((?P<g>[12][A-D])\)"), "Grade {g}"),
    # USPSTF-style letter grades
    (re.compile(r"\bGrade\s+(?P<g>[ABCDI])\b(?!-)"), "Grade {g}"),
    # Brain Trauma Foundation levels: "(Level IIB)"; but "Level I trauma center" names a facility
    (re.compile(rf"\bLevel\s+(?P<l>I{{1,3}}[AB]?)\b(?!\s+(?:{_FACILITY}))", re.IGNORECASE), "Level {l}"),
]
_NEEDS_RECOMMENDING_SENTENCE = {5}
_RECOMMENDING = re.compile(r"\b(?:recommend|suggest)", re.IGNORECASE)


def _sentence_before(text: str, pos: int) -> str:
    start = max(text.rfind(". ", 0, pos), text.rfind("\n", 0, pos))
    return text[start + 1 : pos]


def _normal(template: str, match: re.Match[str]) -> str:
    parts = {k: " ".join(v.split()) for k, v in match.groupdict().items() if v}
    for key in ("s", "q"):
        if key in parts:
            parts[key] = parts[key].capitalize() if key == "s" else parts[key].lower()
    return template.format(**parts)


def extract_grades(text: str) -> list[str]:
    """Every grade statement in ``text``, normalised, in order of first appearance, without repeats."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for n, (pattern, template) in enumerate(_PATTERNS):
        for m in pattern.finditer(text):
            if (
                n in _NEEDS_RECOMMENDING_SENTENCE
                and m.group(0) == "(2D)"
                and not _RECOMMENDING.search(_sentence_before(text, m.start()))
            ):
                continue
            if any(a <= m.start() < b or a < m.end() <= b for a, b in taken):
                continue  # a more specific pattern already covered this span
            taken.append((m.start(), m.end()))
            found.append((m.start(), _normal(template, m)))
    seen: dict[str, None] = {}
    for _, grade in sorted(found):
        seen.setdefault(grade, None)
    return list(seen)
