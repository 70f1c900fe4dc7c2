"""Medication rules read from indexed guideline passages: dose tables, renal limits, named interactions.

The label maxima and renal adjustments of named drugs, which the passages do not all carry, are
in :mod:`assessments.drug_labels`; :mod:`assessments.doses` checks doses against both.

Pure functions over guideline-collection points ``(chunk id, payload)``; nothing is hard-coded
about any drug. What is read:

* **Dose tables**: Markdown tables with a drug column (``Drug``, ``Preferred Agent``) and dose
  columns (``Daily Dose``, ``Starting Dose``, ``Target Dose``, ``Maximum (Daily) Dose``), with an
  optional ``Frequency`` and ``Drug Class`` column; and two-column parameter tables under a drug
  heading (``Starting dose | 500 mg ...``, ``Maximum dose | 2,000–2,550 mg/day``). A drug's class is
  the ``Drug Class`` cell, else the heading the table sits under (intensity words dropped).
* **Renal limits**: sentences that name eGFR with "contraindicated/avoid ... below/< N" (critical)
  or "eGFR A–B ... dose reduction" (warning); the drug is the one the sentence or heading names.
* **Interactions**: "Do not combine X with/+ Y", "Avoid X [> N mg] with A, B, or C", and
  "risk increased with drug interactions (e.g., A, B)".

Amounts are milligrams per day: a per-administration dose times the frequency column.
Superseded guideline versions are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cite", "DoseRange", "Interaction", "MedicationRules", "RenalLimit", "extract_rules", "name_key"]


@dataclass(frozen=True)
class Cite:
    """The guideline passage a rule was read from."""

    chunk_id: str
    doc_id: str
    title: str
    version: str
    issuer: str
    section: str


@dataclass
class DoseRange:
    """A drug's daily dose range in mg/day across the guideline tables that list it."""

    drug: str
    low: float
    high: float
    labels: list[str] = field(default_factory=list)  # e.g. "High-Intensity Statin Therapy: 40-80 mg"
    cites: list[Cite] = field(default_factory=list)
    per_dose_high: float | None = None  # the largest per-administration dose listed


@dataclass(frozen=True)
class RenalLimit:
    """Below ``below`` (or within [low, below)) the guideline contraindicates or asks to reduce the drug."""

    drug: str  # a drug or class key
    low: float | None
    below: float
    severity: str  # "critical" (contraindicated/avoid) or "warning" (reduce dose, monitor)
    sentence: str
    cite: Cite


@dataclass(frozen=True)
class Interaction:
    """A combination the guideline names; ``max_mg`` limits it to doses above that amount."""

    first: str  # drug or class key
    second: str
    severity: str
    sentence: str
    cite: Cite
    max_mg: float | None = None


@dataclass
class MedicationRules:
    """Everything read: classes by drug, dose ranges, renal limits and interactions."""

    classes: dict[str, str] = field(default_factory=dict)  # drug key -> class key
    class_names: dict[str, str] = field(default_factory=dict)  # class key -> display
    doses: dict[str, DoseRange] = field(default_factory=dict)
    renal: list[RenalLimit] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)

    def drugs(self) -> list[str]:
        """Known drug keys, longest first (so "fluvastatin xl" is tried before "fluvastatin")."""
        return sorted(self.classes, key=len, reverse=True)

    def find_drug(self, text: str) -> str | None:
        """The known drug named in ``text`` (an order's display), if any."""
        low = f" {name_key(text)} "
        return next((d for d in self.drugs() if f" {d} " in low), None)


_MD_MARK = re.compile(r"[*_`]")
_PAREN = re.compile(r"\([^)]*\)")
_INTENSITY = re.compile(r"\b(high|moderate|low)[- ]intensity\b|\btherapy\b", re.I)
_NUM = r"\d[\d,]*(?:\.\d+)?"
_MG = re.compile(
    rf"({_NUM})\s*(?:[-–—]+\s*({_NUM}))?\s*mg\b(\s*/\s*day)?(?!\s*/\s*(?:h|hr|hour|min|kg)\b)", re.I
)
_FREQ = {"once": 1, "twice": 2, "three times": 3, "four times": 4}


def name_key(text: str) -> str:
    """A drug or class name as matched: lower case, markup and brackets removed, plural 's' dropped."""
    text = _PAREN.sub(" ", _MD_MARK.sub("", text)).lower()
    text = re.sub(r"[^a-z0-9/+\- ]", " ", text)
    words = [w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in text.split()]
    return " ".join(words)


def _class_key(heading: str) -> str:
    text = _INTENSITY.sub(" ", _PAREN.sub(" ", heading))
    return name_key(text.split("—")[0].split(" -- ")[0])


def _class_display(heading: str) -> str:
    text = _INTENSITY.sub(" ", _PAREN.sub(" ", _MD_MARK.sub("", heading)))
    return " ".join(text.split("—")[0].split(" -- ")[0].split())


def _cite(point_id: str, p: Mapping[str, Any]) -> Cite:
    return Cite(
        point_id,
        str(p.get("doc_id", "")),
        str(p.get("title", "")),
        str(p.get("version", "")),
        str(p.get("issuer", "")),
        str(p.get("section", "")),
    )


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _per_day(freq: str) -> tuple[float, float]:
    low = freq.lower()
    weeks = re.search(r"every (\d+) weeks", low)
    if weeks:
        return 1 / (7 * int(weeks.group(1))), 1 / (7 * int(weeks.group(1)))
    if "week" in low:
        return 1 / 7, 1 / 7
    if "month" in low:
        return 1 / 30, 1 / 30
    counts = [n for word, n in _FREQ.items() if word in low]
    return (min(counts), max(counts)) if counts else (1, 1)


def _tables(text: str) -> Iterable[list[list[str]]]:
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            yield rows
            rows = []


def _add_dose(rules: MedicationRules, drug: str, cls: str, low: float, high: float, label: str, cite: Cite,
              per_dose_high: float | None) -> None:  # fmt: skip
    key = name_key(drug)
    if not key:
        return
    rules.classes.setdefault(key, cls)
    rng = rules.doses.get(key)
    if rng is None:
        rules.doses[key] = DoseRange(key, low, high, [label], [cite], per_dose_high)
        return
    rng.low, rng.high = min(rng.low, low), max(rng.high, high)
    rng.per_dose_high = max(rng.per_dose_high or 0, per_dose_high or 0) or None
    rng.labels.append(label)
    if cite not in rng.cites:
        rng.cites.append(cite)


def _read_drug_table(rules: MedicationRules, rows: list[list[str]], heading: str, cite: Cite) -> None:
    header = [h.lower() for h in rows[0]]
    drug_col = next((i for i, h in enumerate(header) if h in ("drug", "preferred agent", "agent")), None)
    dose_cols = [i for i, h in enumerate(header) if "dose" in h and "starting" not in h]
    start_col = next((i for i, h in enumerate(header) if "starting dose" in h), None)
    if drug_col is None or not (dose_cols or start_col is not None):
        return
    class_col = next((i for i, h in enumerate(header) if h == "drug class"), None)
    freq_col = next((i for i, h in enumerate(header) if h == "frequency"), None)
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        amounts = [
            m
            for i in [*([start_col] if start_col is not None else []), *dose_cols]
            for m in _MG.finditer(row[i])
        ]
        if not amounts:
            continue
        lo_day, hi_day = _per_day(row[freq_col]) if freq_col is not None else (1, 1)
        per_dose = [_number(m.group(1)) for m in amounts] + [
            _number(m.group(2)) for m in amounts if m.group(2)
        ]
        cls = _class_key(row[class_col]) if class_col is not None else _class_key(heading)
        rules.class_names.setdefault(
            cls, _class_display(row[class_col] if class_col is not None else heading)
        )
        label = f"{heading}: {_MD_MARK.sub('', row[drug_col]).strip()} " + "; ".join(
            f"{rows[0][i]} {row[i]}" for i in ([start_col] if start_col is not None else []) + dose_cols
        )
        only_max = start_col is None and all("maximum" in header[i] for i in dose_cols)
        low = 0.0 if only_max else min(per_dose) * lo_day
        _add_dose(rules, row[drug_col], cls, low, max(per_dose) * hi_day, label, cite, max(per_dose))


def _read_parameter_table(rules: MedicationRules, rows: list[list[str]], heading: str, cite: Cite) -> None:
    params = {r[0].lower(): r[1] for r in rows[1:] if len(r) >= 2}
    start, top = params.get("starting dose", ""), params.get("maximum dose", "")
    start_m, top_m = _MG.search(start), _MG.search(top)
    if not (start_m and top_m):
        return
    low = _number(start_m.group(1)) * (1 if start_m.group(3) else _per_day(start)[0])
    high_value = _number(top_m.group(2) or top_m.group(1))
    high = high_value * (1 if top_m.group(3) else _per_day(top)[1])
    drug = _class_key(heading)
    rules.class_names.setdefault(drug, _class_display(heading))
    _add_dose(rules, drug, drug, low, high, f"{heading}: starting {start}; maximum {top}", cite, None)


_LINE = re.compile(r"\n+|\s+-\s+(?=[A-Z])")  # one bullet at a time (the chunker may join list lines)
_TEXT = r"(?:[^.]|\.\d)*?"  # within one sentence; "1.73 m2" does not end it
_CONTRA = re.compile(
    rf"(contraindicated|avoid|do not use|not recommended){_TEXT}(?:below|<)\s*({_NUM})", re.I
)
_CONTRA_REV = re.compile(rf"(?:eGFR\s*)?(?:below|<)\s*({_NUM}){_TEXT}(contraindicated|avoid)", re.I)
_BAND = re.compile(
    rf"eGFR\s*({_NUM})\s*[-–—]+\s*({_NUM}){_TEXT}(dose reduction|reduce the dose|reduce dose)", re.I
)
_NO_COMBINE = re.compile(r"do not combine\s+(.+?)\s*(?:\bwith\b|\+)\s*(.+?)(?:\s+due\b|\s*\(|\.|;|$)", re.I)
_NO_COMBINE_WITH = re.compile(r"do not combine with\s+(.+?)(?:\s*\(|\.|;|$)", re.I)
_AVOID_WITH = re.compile(
    rf"avoid\s+([\w-]+)(?:\s*>\s*({_NUM})\s*mg)?\s+with\s+(.+?)(?:\s+due\b|\.|;|$)", re.I
)
_EG_LIST = re.compile(r"drug interactions\s*\(e\.g\.,?\s*([^)]+)\)", re.I)


def _terms(text: str) -> list[str]:
    parts = re.split(r",\s*(?:or\s+|and\s+)?|\s+or\s+|\s+and\s+|/|\+", text)
    out = []
    for part in parts:
        key = name_key(re.sub(r"^(any|some|all|a|an)\s+", "", part.strip(), flags=re.I))
        if key:
            out.append(key)
    return out


def _subject(rules: MedicationRules, sentence: str, path: list[str]) -> str | None:
    """The drug or class a sentence is about: one it names, else the nearest heading that names one."""
    for text in [sentence, *reversed(path)]:
        key = f" {name_key(text)} "
        for name in [*rules.drugs(), *sorted(rules.class_names, key=len, reverse=True)]:
            if f" {name} " in key:
                return name
    return None


def _read_sentences(rules: MedicationRules, text: str, path: list[str], cite: Cite) -> None:
    for sentence in (s.strip(" -*") for s in _LINE.split(_MD_MARK.sub("", text))):
        if not sentence:
            continue
        if "egfr" in sentence.lower():
            subject = _subject(rules, sentence, path)
            band = _BAND.search(sentence)
            if subject and band:
                rules.renal.append(
                    RenalLimit(
                        subject, _number(band.group(1)), _number(band.group(2)), "warning", sentence, cite
                    )
                )
            contra = _CONTRA.search(sentence) or _CONTRA_REV.search(sentence)
            if subject and contra:
                limit = _number(contra.group(2) if contra.re is _CONTRA else contra.group(1))
                rules.renal.append(RenalLimit(subject, None, limit, "critical", sentence, cite))
        for m in _NO_COMBINE.finditer(sentence):
            for a in _terms(m.group(1)):
                for b in _terms(m.group(2)):
                    if a != b:
                        rules.interactions.append(Interaction(a, b, "critical", sentence, cite))
        if not _NO_COMBINE.search(sentence):
            for m in _NO_COMBINE_WITH.finditer(sentence):
                subject = _subject(rules, "", path)
                for b in _terms(m.group(1)) if subject else []:
                    rules.interactions.append(Interaction(subject or "", b, "critical", sentence, cite))
        for m in _AVOID_WITH.finditer(sentence):
            cap = _number(m.group(2)) if m.group(2) else None
            for b in _terms(m.group(3)):
                rules.interactions.append(
                    Interaction(name_key(m.group(1)), b, "warning", sentence, cite, cap)
                )
        for m in _EG_LIST.finditer(sentence):
            subject = _subject(rules, "", path)
            for b in _terms(m.group(1)) if subject else []:
                rules.interactions.append(Interaction(subject or "", b, "warning", sentence, cite))


def extract_rules(points: Iterable[tuple[str, Mapping[str, Any]]]) -> MedicationRules:
    """Read medication rules from guideline chunks (current versions of ``kind`` guideline only).

    Args:
        points: ``(chunk id, payload)`` pairs from the guideline collection.

    Returns:
        The rules; each one cites the chunk it was read from.
    """
    rules = MedicationRules()
    usable = [
        (pid, p)
        for pid, p in points
        if p.get("kind", "guideline") != "recommendation"
        and not p.get("superseded")
        and p.get("status") != "superseded"
    ]
    for pid, p in usable:  # tables first: they define the drug and class names sentences are matched on
        path = [str(s) for s in p.get("section_path") or []]
        heading = path[-1] if path else str(p.get("title", ""))
        for rows in _tables(str(p.get("text", ""))):
            if len(rows) < 2:
                continue
            if [h.lower() for h in rows[0][:2]] == ["parameter", "detail"]:
                _read_parameter_table(rules, rows, heading, _cite(pid, p))
            else:
                _read_drug_table(rules, rows, heading, _cite(pid, p))
    for pid, p in usable:
        _read_sentences(
            rules, str(p.get("text", "")), [str(s) for s in p.get("section_path") or []], _cite(pid, p)
        )
    return rules
