"""Computed patient facts (from the summary) as evidence items that cite the events they came from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["fact_items", "hit_item", "number", "on_topic_hit"]

# Problems Synthea records that describe circumstances rather than disease; they stay in the
# record and in searches, but do not crowd the problem list shown to the model.
_CIRCUMSTANCE_TAGS = ("(situation)", "(social concept)", "(occupation)", "(person)")
_CIRCUMSTANCE_WORDS = (
    "employment",
    "education",
    "labor force",
    "social contact",
    "criminal record",
    "transportation",
    "housing",
    "violence",
    "stress (finding)",
    "social isolation",
    "unemployed",
    "refugee",
    "military service",
    "income",
    "risk activity",
)
_MAX_LIST = 12
# Allergies bear on a question about allergies, reactions or safety, or on a question with no
# topic of its own ("summarise this patient"); a statin or kidney question does not need them.
_ASKS_ALLERGIES = re.compile(r"allerg|intoleran|reaction|anaphyla|contraindicat|hypersensitiv|safe to", re.I)
# Questionnaires and social-history entries (PRAPARE, PHQ, AUDIT-C...) bear on questions about
# social needs, mood or habits, not on a question about lab values or warning signs.
_SURVEY_CATEGORIES = frozenset({"survey", "social-history"})
_ASKS_SURVEYS = re.compile(
    r"social|housing|food|stress|depress|anxiety|mood|alcohol|smok|tobacco|drug use|questionnaire|survey"
    r"|screen|prapare|phq|gad|audit|needs|safety|violence|transport|income|employ",
    re.I,
)


def number(value: Any) -> str:
    """A value as a clinician would write it: at most 3 significant decimals, no float noise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def _clinical(display: str) -> bool:
    low = display.lower()
    return not any(t in low for t in _CIRCUMSTANCE_TAGS) and not any(w in low for w in _CIRCUMSTANCE_WORDS)


def _item(
    text: str, cite: Sequence[str], refs: dict[str, dict[str, Any]], patient_id: str, relevance: float
) -> dict[str, Any]:
    """A computed fact: provenance from its newest cited event; all cited event ids kept."""
    cite = [str(c) for c in cite]
    known = [refs[c] for c in cite if c in refs]
    newest = max(known, key=lambda r: str(r.get("date") or ""), default={})
    types = sorted({str(r.get("resource_type")) for r in known if r.get("resource_type")})
    return {
        "text": text,
        "relevance": relevance,
        "computed": True,
        "patient_id": patient_id,
        "resource_type": types[0] if len(types) == 1 else ("+".join(types) or "Summary"),
        "resource_id": str(newest.get("resource_id", "")),
        "date": str(newest.get("date") or "")[:10],
        "event_ids": cite,
    }


def fact_items(
    summary: dict[str, Any],
    refs: dict[str, dict[str, Any]],
    facets: Sequence[str],
    *,
    question: str = "",
) -> list[dict[str, Any]]:
    """Facts about the patient, most useful first; facts that do not bear on the question are left out.

    Args:
        summary: ``build_summary`` output for the patient.
        refs: Event id -> resource type, id and date, for the events the summary cites.
        facets: Primary codes of the watched series the question is about; empty means the
            series with a flag or a clear trend.
        question: The question; allergies are listed only when it is about allergies or drug
            safety, or when it names no watched series (a general question).
    """
    pid = str(summary.get("patient_id", ""))
    as_of = summary.get("as_of", "")
    out: list[dict[str, Any]] = []
    patient_event = [e for e, r in refs.items() if r.get("resource_type") == "Patient"][:1]
    demo = f"{summary.get('age', 'unknown')}-year-old {summary.get('sex') or 'patient of unknown sex'}"
    out.append(_item(f"Patient: {demo} (age as of {as_of}).", patient_event, refs, pid, 1.0))
    for flag in summary.get("flags", []):
        text = f"Early-warning flag: {flag['summary']}. Threshold source: {flag['threshold_source']}."
        out.append(_item(text, flag.get("cite", []), refs, pid, 0.95))
    trends = {t["code"]: t for t in summary.get("trends", [])}
    wanted = list(facets) or [c for c, t in trends.items() if t.get("direction") in ("rising", "falling")]
    for code in wanted:
        t = trends.get(code)
        if t is None:
            continue
        values = "; ".join(f"{number(v['value'])} on {v['date']}" for v in t.get("last_values", []))
        slope = t.get("change_per_year")
        change = f", change {number(slope)} {t['unit']}/year ({t['direction']})" if slope is not None else ""
        text = f"{t['display']} ({t['unit']}): recent values {values}{change}."
        out.append(_item(text, t.get("cite", []), refs, pid, 0.9))
    problems = [p for p in summary.get("problems", []) if _clinical(str(p.get("display", "")))][:_MAX_LIST]
    if problems:
        text = "Active problems: " + "; ".join(
            f"{p['display']} (since {p.get('onset') or '?'})" for p in problems
        )
        out.append(_item(text + ".", [c for p in problems for c in p.get("cite", [])[-1:]], refs, pid, 0.85))
    meds = summary.get("medications", [])[:_MAX_LIST]
    text = (
        "Active medications: "
        + "; ".join(f"{m['display']} (since {m.get('since') or '?'})" for m in meds)
        + "."
        if meds
        else "Active medications: none recorded."
    )
    out.append(
        _item(text, [c for m in meds for c in m.get("cite", [])[-1:]] or patient_event, refs, pid, 0.8)
    )
    if not facets or _ASKS_ALLERGIES.search(question):
        out.append(_allergy_item(summary, refs, pid, patient_event))
    facet_set = set(facets)
    for row in summary.get("out_of_range", []):
        if facet_set and row.get("code") not in facet_set:
            continue
        text = (
            f"Out of range: {row['display']} {number(row['value'])} {row.get('unit', '')} on {row['date']} "
            f"({row.get('reason', '')})."
        )
        out.append(_item(text, row.get("cite", []), refs, pid, 0.7))
    return out


def _allergy_item(
    summary: dict[str, Any], refs: dict[str, dict[str, Any]], pid: str, patient_event: list[str]
) -> dict[str, Any]:
    allergies = summary.get("allergies", [])
    text = (
        "Allergies: " + "; ".join(a["display"] for a in allergies) + "."
        if allergies
        else "Allergies: none recorded."
    )
    return _item(text, [c for a in allergies for c in a.get("cite", [])] or patient_event, refs, pid, 0.75)


def on_topic_hit(hit: Any, question: str) -> bool:
    """Whether a searched record entry bears on the question: questionnaires only when it asks about them."""
    category = str(hit.payload.get("category", "")).lower()
    return category not in _SURVEY_CATEGORIES or bool(_ASKS_SURVEYS.search(question))


def hit_item(hit: Any, relevance: float) -> dict[str, Any]:
    """A patient search hit (one timeline event) as an evidence item."""
    p = hit.payload
    return {
        "text": str(p.get("text", "")),
        "relevance": relevance,
        "computed": False,
        "patient_id": str(p.get("patient_id", "")),
        "resource_type": str(p.get("resource_type", "")),
        "resource_id": str(p.get("resource_id", "")),
        "date": str(p.get("date") or "")[:10],
        "event_ids": [hit.id],
    }
