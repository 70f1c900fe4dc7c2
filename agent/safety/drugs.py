"""Drug names (the guardrails-ai ``mentions_drugs`` vocabulary plus the guideline tables) and dose ranges.

Dose ranges are read from the indexed guideline text itself: table rows such as
``| **Atorvastatin** | 40--80 mg | Oral | Once daily |`` and prose such as ``ezetimibe 10 mg/day``.
For each drug and unit the lowest and highest dose any guideline states is kept; a dose outside
that span in an answer is unsafe (a 10x slip, a unit slip). A retrieved passage that tells the reader
to multiply doses wholesale ("double every insulin dose", "triple the dose of all basal insulins")
is unsafe whatever its numbers: :func:`blanket_dose_change` finds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

__all__ = [
    "BLANKET_DOSE",
    "Dose",
    "DoseTable",
    "blanket_dose_change",
    "doses_in",
    "drug_vocabulary",
    "drugs_in",
]

_NUM = r"\d+(?:[.,]\d+)?"
_UNIT = r"(mg|mcg|µg|microgram|g|grams?|units?|iu)\b(?!\s*/\s*(?:dl|l|ml|g|kg|mmol|min|hr?|m2|1\.73)\b)"
_RANGE = rf"({_NUM})(?:\s*(?:--|–|-|to)\s*({_NUM}))?\s*{_UNIT}"
_TABLE_ROW = re.compile(rf"^\|\s*\**([A-Za-z][A-Za-z -]{{2,40}}?)\**\s*\|\s*{_RANGE}", re.I | re.M)
_DOSE = re.compile(rf"(?<![\\w.]){_RANGE}", re.I)
_WORD = re.compile(r"[a-z][a-z-]{3,}")
_MULT = r"(?:doubl|tripl|trebl|quadrupl|multipl)\w*"
_DOSE_WORD = r"dos(?:e|es|ing|age|ages)\b"
# "every/all/each [up to two words] dose": the quantifier is the dose's, not the interval's
# ("double the dose every 2 weeks" is titration, and stays).
_EVERY = (
    r"(?:every|all|each|any)\s+(?:of\s+(?:the|their|your)\s+)?"
    r"(?:(?!weeks?\b|days?\b|months?\b|hours?\b|times?\b|visits?\b)[a-z][a-z-]*\s+){0,2}?"
)
BLANKET_DOSE = re.compile(
    rf"\b{_MULT}\b[^.?!\n]{{0,15}}\b{_EVERY}{_DOSE_WORD}"
    rf"|\b{_MULT}\b[^.?!\n]{{0,12}}\b{_DOSE_WORD}[^.?!\n]{{0,5}}\bof (?:every|all|each|any)\b"
    rf"|\b{_EVERY}{_DOSE_WORD}[^.?!\n]{{0,30}}\b(?:doubled|tripled|trebled|quadrupled|multiplied)\b"
    rf"|\b(?:increase|raise|escalate|multiply)\w*\b[^.?!\n]{{0,12}}\b{_EVERY}{_DOSE_WORD}[^.?!\n]{{0,20}}"
    r"(?:\b(?:\d+|two|three|four|five|ten)[- ]?fold\b|\bby (?:[1-9]\d{2,}|[5-9]\d)\s?%"
    r"|\b(?:\d+|two|three|four|five|ten) times\b|\bx\s?\d)"
    r"|\b(?:give|use|prescribe|administer|start)\b[^.?!\n]{0,15}\b(?:twice|two times|three times|ten times|"
    r"\d+ times|double|triple)\b (?:the |their )?(?:usual|normal|recommended|standard|labell?ed|maximum|"
    r"prescribed) (?:dose|doses|dosing)\b",
    re.I,
)
_NEGATED = re.compile(r"\b(?:not|never|avoid|don'?t|no)\b[^.?!\n]{0,20}$", re.I)
_TO_MG = {
    "mg": 1.0,
    "mcg": 0.001,
    "µg": 0.001,
    "microgram": 0.001,
    "g": 1000.0,
    "gram": 1000.0,
    "grams": 1000.0,
}
# Words of the published list that are ordinary English or clinical vocabulary, not drug names.
_NOT_DRUGS = frozenset(
    [
        "acid",
        "sodium",
        "calcium",
        "potassium",
        "magnesium",
        "human",
        "injection",
        "tablets",
        "oral",
        "extended",
        "release",
        "hydrochloride",
        "chloride",
        "sulfate",
        "water",
        "dextrose",
        "oxygen",
        "insulin",
        "alcohol",
        "iron",
        "zinc",
        "vitamin",
        "dose",
        "doses",
        "daily",
        "total",
        "initial",
        "starting",
        "maximum",
        "target",
        "usual",
        "reduction",
        "intake",
        "regimen",
        "therapy",
    ]
)


@cache
def drug_vocabulary() -> frozenset[str]:
    """Single-word drug names from the ``guardrails-ai-mentions-drugs`` list (first word of each entry)."""
    from agent.safety.offline import prepare_offline

    prepare_offline()
    from guardrails_ai.mentions_drugs import MentionsDrugs

    words = {str(name).split()[0].strip(",.()").lower() for name in MentionsDrugs.DRUGS}
    return frozenset(w for w in words if w.isalpha() and len(w) >= 5 and w not in _NOT_DRUGS)


def drugs_in(text: str, extra: Iterable[str] = ()) -> set[str]:
    """Drug names mentioned in ``text`` (lower case)."""
    vocab = drug_vocabulary() | set(extra)
    return {w for w in _WORD.findall(text.lower()) if w in vocab}


def blanket_dose_change(text: str) -> str:
    """The first wholesale dose multiplication ``text`` recommends ("" when none; "never double all
    doses" advises against it and is not one)."""
    for m in BLANKET_DOSE.finditer(text):
        if not _NEGATED.search(text[max(0, m.start() - 40) : m.start()]):
            return m.group(0)
    return ""


@dataclass(frozen=True)
class Dose:
    """A dose as written: drug, amount (mg when a mass), unit family, the text it came from."""

    drug: str
    low: float
    high: float
    unit: str
    text: str


def _unit(raw: str) -> tuple[str, float]:
    raw = raw.lower()
    if raw in _TO_MG:
        return "mg", _TO_MG[raw]
    return "units", 1.0


def _float(raw: str) -> float:
    return float(raw.replace(",", "."))


def doses_in(text: str, extra: Iterable[str] = ()) -> list[Dose]:
    """Every ``N [to M] unit`` in ``text`` whose nearest preceding word (same clause) is a drug name."""
    vocab = drug_vocabulary() | set(extra)
    found = []
    for m in _DOSE.finditer(text):
        before = re.split(r"[.;\n]", text[max(0, m.start() - 40) : m.start()])[-1]
        names = [w for w in _WORD.findall(before.lower()) if w in vocab]
        if not names:
            continue
        unit, factor = _unit(m.group(3))
        low = _float(m.group(1)) * factor
        high = _float(m.group(2)) * factor if m.group(2) else low
        found.append(Dose(names[-1], min(low, high), max(low, high), unit, m.group(0)))
    return found


@dataclass
class DoseTable:
    """Lowest and highest documented dose per (drug, unit) across the indexed guideline text."""

    spans: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    table_drugs: set[str] = field(default_factory=set)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> DoseTable:
        """Parse guideline chunk texts; table rows name drugs the published list may lack."""
        table = cls()
        texts = list(texts)
        for text in texts:
            for m in _TABLE_ROW.finditer(text):
                first = m.group(1).split()[0].lower()
                if first.isalpha() and len(first) >= 5 and first not in _NOT_DRUGS:
                    table.table_drugs.add(first)
        for text in texts:
            for d in doses_in(text, table.table_drugs):
                table.add(d)
        return table

    def add(self, dose: Dose) -> None:
        key = (dose.drug, dose.unit)
        low, high = self.spans.get(key, (dose.low, dose.high))
        self.spans[key] = (min(low, dose.low), max(high, dose.high))

    def unsafe(self, text: str) -> list[str]:
        """Doses in ``text`` outside the documented span for their drug (drugs with no span are skipped),
        and any blanket dose multiplication, which no span can make safe."""
        blanket = blanket_dose_change(text)
        problems = [f"blanket dose change ({blanket[:40]!r})"] if blanket else []
        for d in doses_in(text, self.table_drugs):
            span = self.spans.get((d.drug, d.unit))
            if span and (d.high > span[1] * 1.001 or d.low < span[0] * 0.999):
                problems.append(f"{d.drug} {d.text} outside {span[0]:g}-{span[1]:g} {d.unit}")
        return problems
