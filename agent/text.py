"""Small text helpers shared by the evidence answer and the guards."""

from __future__ import annotations

import re

__all__ = ["HEDGES", "content_words", "is_claim", "numbers_in", "overlap", "sentences"]

# A sentence ends at . ! or ? before a capital, a digit or a bracket, but not after "e.g." or "i.e."
_SPLIT = re.compile(r"(?<=[.!?])(?<!\be\.g\.)(?<!\bi\.e\.)\s+(?=[A-Z0-9(*])")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,2}[.)])\s+")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "patient",
        "patients",
        "me",
        "we",
        "about",
        "any",
    ]
)


def sentences(text: str) -> list[str]:
    """Sentences of prose; a Markdown table row or list item counts as one unit (cited at its end)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("|") or _LIST_ITEM.match(line):
            if not set(line) <= set("|-: "):
                out.append(line)
            continue
        out.extend(s.strip() for s in _SPLIT.split(line) if s.strip())
    return out


def content_words(text: str) -> set[str]:
    """Lower-cased words without stop words, cut to a 6-letter stem so 'statins' meets 'statin'."""
    return {w[:6] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def overlap(query_words: set[str], text: str) -> float:
    """Share of the query's content words found in ``text``."""
    if not query_words:
        return 0.0
    return len(query_words & content_words(text)) / len(query_words)


def numbers_in(text: str) -> list[str]:
    """Numbers written in ``text`` (``7.5``, ``140``), normalised (comma decimals become dots)."""
    return [n.replace(",", ".") for n in _NUMBER.findall(text)]


# Openings of sentences that hedge or decline rather than state a clinical fact.
HEDGES = (
    "no ",
    "i cannot",
    "i can't",
    "the evidence does not",
    "the indexed",
    "consult",
    "please consult",
    "uncertain",
    "note:",
    "evidence summary",
)
_CLAIM_WORDS = 6


def is_claim(sentence: str) -> bool:
    """A sentence that states something clinical: a number, or a full statement that is not a hedge."""
    low = sentence.lower().lstrip("- ").strip()
    if not low or low.startswith(HEDGES) or low.endswith(":"):
        return False
    return bool(numbers_in(low)) or len(low.split()) >= _CLAIM_WORDS
