"""Sentence-level grounding: what a sentence states (numbers, units, dates, drugs) must be in what it cites.

A sentence copied from its source passes at once. Otherwise its content words must overlap the cited
text, and when that overlap is partial a semantic-support score (cosine of MiniLM embeddings between
the sentence and its best cited passage) must reach ``SUPPORT_THRESHOLD``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.evidence_mode import EVIDENCE_LABEL
from agent.safety.drugs import drugs_in
from agent.schema import MARKER, markers_in
from agent.text import content_words, numbers_in, overlap, sentences
from agent.text import is_claim as text_is_claim

__all__ = [
    "LEXICAL_PASS",
    "SUPPORT_THRESHOLD",
    "Sentence",
    "dates_in",
    "is_claim",
    "plain",
    "split_answer",
    "support_scores",
]

# Calibrated with `python -m evals.safety.calibrate` (reports/eval/safety-calibration.json): the
# cosine at which held-out supported pairs (a guideline sentence against the rest of its own
# passage) keep >= 95% recall while unrelated pairs (the same sentence against another guideline's
# passage) are rejected; see the README's Guardrails section for the measured rates.
SUPPORT_THRESHOLD = 0.45
# Share of a sentence's content words found in its cited text above which no embedding is needed.
LEXICAL_PASS = 0.8
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DATE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b(?:{_MONTHS})[a-z]*\.? (?:\d{{1,2}},? )?\d{{4}}\b",
    re.I,
)
_UNITS = re.compile(r"\b(?:mg/dl|mmol/l|mmhg|mg|mcg|g|kg|ml/min(?:/1\.73 ?m2)?|%|bpm|units?|iu)\b", re.I)


def plain(sentence: str) -> str:
    """A sentence without citation markers and Markdown decoration."""
    return re.sub(r"[*_#>`]", " ", MARKER.sub(" ", sentence)).strip()


def dates_in(text: str) -> list[str]:
    """Dates as written (ISO, US numeric, month-year)."""
    return _DATE.findall(text)


def is_claim(sentence: str) -> bool:
    """A sentence that states something clinical: a number, or a full statement that is not a hedge."""
    return text_is_claim(plain(sentence))


@dataclass
class Sentence:
    """One answer sentence, what it cites, and what the grounding checks found."""

    text: str
    cites: list[str]
    source: str = ""
    problems: list[str] = field(default_factory=list)
    extractive: bool = False
    lexical: float = 1.0
    consistency: list[str] = field(default_factory=list)


def split_answer(answer: str, by_id: dict[str, dict[str, Any]]) -> list[Sentence]:
    """The answer's sentences (the evidence-mode label removed) with their cited source text."""
    out = []
    for s in sentences(answer.replace(EVIDENCE_LABEL, "")):
        cites = markers_in(s)
        source = " ".join(
            f"{by_id[i].get('text', '')} {by_id[i].get('date', '')}" for i in cites if i in by_id
        )
        body = plain(s).lstrip("- ").strip()
        quoted = body.split(": ", 1)[-1].rstrip(
            "…"
        )  # the evidence answer cuts long excerpts with an ellipsis
        extractive = bool(body) and _squash(quoted) in _squash(source)
        out.append(Sentence(s, cites, source, extractive=extractive))
    return out


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def traced(sent: Sentence) -> list[str]:
    """Numbers, units, dates and drug names of the sentence that its sources do not contain."""
    if sent.extractive:
        return []
    body = plain(sent.text)
    source_low = sent.source.lower()
    missing = [n for n in numbers_in(body) if n not in set(numbers_in(sent.source))]
    missing += [u for u in {u.lower() for u in _UNITS.findall(body)} if u not in source_low]
    missing += [d for d in dates_in(body) if d.lower() not in source_low]
    missing += sorted(drugs_in(body) - drugs_in(sent.source))
    return missing


def lexical_support(sent: Sentence) -> float:
    """Share of the sentence's content words found in its sources."""
    words = content_words(plain(sent.text))
    return 1.0 if sent.extractive or not words else overlap(words, sent.source)


def support_scores(encoder: Any, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Cosine between each sentence and its source, in one batch of the (L2-normalised) encoder."""
    if not pairs:
        return []
    vectors = np.asarray(encoder.encode([t for pair in pairs for t in pair]))
    return [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]
