"""Planning the retrieval: guideline queries, patient facets, time window and filters, without an LLM.

Deterministic rules keep the plan fast and explainable; each plan records why it chose what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

__all__ = [
    "ASSESSMENT_TOPICS",
    "FACETS",
    "TYPE_HINTS",
    "assessments_for",
    "facets_for",
    "is_follow_up",
    "make_plan",
    "planned_question",
    "time_window",
    "types_for",
]

# Watched series (primary LOINC code) and the words that make a question about them.
FACETS: dict[str, tuple[str, ...]] = {
    "4548-4": ("a1c", "hba1c", "glycated", "glycemic", "diabet", "metformin", "insulin", "sglt2", "glp-1"),
    "2339-0": ("glucose", "sugar", "hypoglyc", "hyperglyc", "diabet", "insulin"),
    "18262-6": ("ldl", "cholesterol", "lipid", "statin", "ascvd", "cardiovascular", "hyperlipid"),
    "2093-3": ("cholesterol", "lipid", "statin", "hyperlipid"),
    "33914-3": ("egfr", "kidney", "renal", "ckd", "nephro", "creatinine", "metformin", "albuminuria"),
    "2160-0": ("creatinine", "kidney", "renal", "ckd"),
    "8480-6": ("blood pressure", "hypertens", " bp", "antihypertensive", "lisinopril", "amlodipine"),
    "8462-4": ("blood pressure", "hypertens", " bp", "antihypertensive"),
    "39156-5": ("bmi", "obes", "overweight", "weight"),
    "29463-7": ("weight", "obes"),
}

# Words that narrow the patient search to resource types.
TYPE_HINTS: dict[str, tuple[str, ...]] = {
    "medicat": ("MedicationRequest", "MedicationStatement"),
    "prescri": ("MedicationRequest", "MedicationStatement"),
    "allerg": ("AllergyIntolerance",),
    "vaccin": ("Immunization",),
    "immuniz": ("Immunization",),
    "note": ("DocumentReference",),
    "procedure": ("Procedure",),
    "surger": ("Procedure",),
    "imaging": ("ImagingStudy", "DiagnosticReport"),
    "encounter": ("Encounter",),
    "visit": ("Encounter",),
}

# Computable assessments (ids of ``assessments.ASSESSMENT_IDS``) and the question words that call
# for them, in the order an answer states them: the recommendation first, then the scores behind it.
# A question on early-warning signs asks for the kidney assessments (the flags most often missed).
_KIDNEY = ("egfr_ckd_epi_2021", "ckd_stage", "albuminuria", "kfre", "ckd_referral")
ASSESSMENT_TOPICS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        (
            "statin",
            "ldl",
            "cholesterol",
            "lipid",
            "hyperlipid",
            "ascvd",
            "atorvastatin",
            "rosuvastatin",
            "simvastatin",
            "pravastatin",
        ),
        ("statin", "ascvd_pce_10y", "prevent_10y"),
    ),
    (
        (
            "cardiovascular risk",
            "heart attack risk",
            "10-year risk",
            "ten-year risk",
            "prevent risk",
            "pooled cohort",
        ),
        ("ascvd_pce_10y", "prevent_10y", "statin"),
    ),
    (
        (
            "kidney",
            "renal",
            "ckd",
            "egfr",
            "gfr",
            "creatinine",
            "albuminuria",
            "proteinuria",
            "nephrolog",
            "dialysis",
            "acr",
        ),
        _KIDNEY,
    ),
    (("early warning", "early-warning", "warning sign", "red flag", "deteriorat"), (*_KIDNEY, "news2")),
    (
        ("blood pressure", "hypertens", " bp ", " bp?", "antihypertensive", "systolic", "diastolic"),
        ("bp_category", "bp_treatment"),
    ),
    (
        ("diabet", "hba1c", "a1c", "glycemi", "glycaemi", "glucose", "prediabet", "metformin"),
        ("glycemic_status",),
    ),
    (("bmi", "obes", "overweight", "body mass"), ("bmi_class",)),
    (("liver fibrosis", "fib-4", "fib4", "fatty liver", "nafld", "masld", "cirrhosis"), ("fib4",)),
    (("atrial fibrillation", "afib", "a-fib", "anticoagula", "cha2ds2"), ("cha2ds2_vasc",)),
    (("news2", "news 2", "early warning score", "vital signs", "sepsis"), ("news2",)),
)
# Words that name one assessment of a topic: the question is about that one, so it leads.
_LEADS: tuple[tuple[str, str], ...] = (
    ("refer", "ckd_referral"),
    ("nephrolog", "ckd_referral"),
    ("stage", "ckd_stage"),
    ("albumin", "albuminuria"),
    ("acr", "albuminuria"),
    ("kidney failure risk", "kfre"),
    ("kfre", "kfre"),
    ("treat", "bp_treatment"),
    ("medication", "bp_treatment"),
    ("intensity", "statin"),
    ("statin", "statin"),
)
_DOSE = re.compile(r"\b(?:dose|dosing|dosage|\d+(?:\.\d+)?\s*mg)\b", re.I)  # dose checks, when they exist
_ANAPHORA = re.compile(
    r"\b(it|that|this|those|these|she|he|her|his|them|they|same|instead|also|what about)\b", re.I
)
_LAST = re.compile(r"\b(?:last|past|previous)\s+(\d{1,3})\s+(year|month|week|day)s?\b", re.I)
_SINCE = re.compile(r"\bsince\s+(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?\b", re.I)
_IN_YEAR = re.compile(r"\bin\s+(\d{4})\b", re.I)
_ASKS_FLAGS = re.compile(r"warning|red flag|flag|concern|worr|act on|abnormal|at risk", re.I)
_NOISE = re.compile(r"[\d.,:;()=<>≥≤%/+-]+")  # numbers and dates do not help a guideline query
_MAX_FLAG_QUERIES = 3
# Early-warning flag ids (patient_index.flags) and the watched series each one is about.
_FLAG_FACETS: dict[str, tuple[str, ...]] = {
    "egfr": ("33914-3", "2160-0"),
    "hba1c": ("4548-4", "2339-0"),
    "bp": ("8480-6", "8462-4"),
    "ldl": ("18262-6", "2093-3"),
    "bmi": ("39156-5", "29463-7"),
}
_TAG = re.compile(r"\s*\([^)]*\)\s*$")
_FILLER = frozenset(
    [
        "what",
        "should",
        "i",
        "do",
        "about",
        "her",
        "his",
        "their",
        "the",
        "patient",
        "patients",
        "this",
        "with",
        "for",
        "is",
        "are",
        "a",
        "an",
        "and",
        "of",
        "to",
        "in",
        "on",
        "how",
        "can",
        "we",
        "me",
        "my",
        "your",
        "does",
        "do",
        "any",
        "there",
        "be",
    ]
)
_DAYS = {"week": 7, "day": 1}


def _topic_words(question: str) -> list[str]:
    """The question without pronouns and filler, for a guideline-style query."""
    return [w for w in re.findall(r"[\w%.-]+", question) if w.lower().strip("?.") not in _FILLER]


def facets_for(question: str) -> list[str]:
    """Primary codes of the watched series the question mentions, in table order."""
    low = f" {question.lower()} "
    return [code for code, words in FACETS.items() if any(w in low for w in words)]


def types_for(question: str) -> list[str]:
    """Resource types the question points at (empty: every type)."""
    low = question.lower()
    found: dict[str, None] = {}
    for stem, types in TYPE_HINTS.items():
        if stem in low:
            found.update(dict.fromkeys(types))
    return list(found)


def _known_assessments() -> tuple[str, ...]:
    """The assessment ids the installed ``assessments`` package computes (none when it is absent)."""
    try:
        from assessments import ASSESSMENT_IDS
    except ImportError:
        return ()
    return tuple(ASSESSMENT_IDS)


def assessments_for(question: str, known: Sequence[str] | None = None) -> list[str]:
    """The assessment ids a question needs, most direct first.

    Args:
        question: The question (with the previous one joined for a follow-up).
        known: The ids that can be computed; defaults to ``assessments.ASSESSMENT_IDS``.

    Returns:
        Ids in topic order without repeats; a question naming a dose also gets every dose check
        the package offers (ids starting with ``dose``).
    """
    available = tuple(_known_assessments() if known is None else known)
    low = f" {question.lower()} "
    wanted: dict[str, None] = {}
    for words, ids in ASSESSMENT_TOPICS:
        if any(w in low for w in words):
            wanted.update(dict.fromkeys(ids))
    if _DOSE.search(question):
        wanted.update(dict.fromkeys(i for i in available if i.startswith("dose")))
    leads = [aid for word, aid in _LEADS if word in low and aid in wanted]
    ordered = list(dict.fromkeys([*leads[:1], *wanted]))
    return [i for i in ordered if i in available]


def planned_question(question: str, history: Sequence[dict[str, Any]] = ()) -> str:
    """The question the plan is made for: a follow-up is joined to the previous question."""
    base = question.strip()
    return f"{history[-1]['question']} {base}" if is_follow_up(question, history) else base


def _same_day(year: int, month: int, day: int) -> date:
    """The day in that month, or its last day when the month is shorter (31 March - 1 month)."""
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def time_window(question: str, as_of: date) -> tuple[str | None, str | None]:
    """``(since, until)`` ISO days from phrases like "last 2 years", "since 2019", "in 2021"."""
    if m := _LAST.search(question):
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit in ("year", "month"):
            months = as_of.year * 12 + as_of.month - 1 - n * (12 if unit == "year" else 1)
            start = _same_day(months // 12, months % 12 + 1, as_of.day)
        else:
            start = as_of - timedelta(days=n * _DAYS[unit])
        return start.isoformat(), as_of.isoformat()
    if m := _SINCE.search(question):
        year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
        return date(year, month, day).isoformat(), None
    if (m := _IN_YEAR.search(question)) and 1900 <= int(m.group(1)) <= as_of.year:
        return f"{m.group(1)}-01-01", f"{m.group(1)}-12-31"
    return None, None


def is_follow_up(question: str, history: Sequence[dict[str, Any]]) -> bool:
    """A question that leans on the previous turn: no topic of its own, and short or pointing back.

    "and what dose?" continues the last question; "and how has kidney function changed?" names a
    topic of its own (kidney function), so it keeps the thread's patient but not the old query.
    """
    if not history or facets_for(question):
        return False
    return len(question.split()) <= 6 or bool(_ANAPHORA.search(question))


def make_plan(
    question: str,
    *,
    history: Sequence[dict[str, Any]] = (),
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The retrieval plan for one question.

    Args:
        question: The clinician's question.
        history: Earlier turns of the thread (``question``/``answer`` dicts), oldest first.
        summary: The patient's summary when the question is about a patient.

    Returns:
        ``guideline_queries``, ``guideline_filters`` (``KEY=VALUE`` strings), ``facets``,
        ``patient_types``, ``since``, ``until``, ``follow_up``, ``assessments`` (ids, see
        :func:`assessments_for`) and ``why`` (a list of reasons).
    """
    why: list[str] = []
    follow_up = is_follow_up(question, history)
    base = question.strip()
    if follow_up:
        base = f"{history[-1]['question']} {base}"
        why.append("follow-up: the previous question joins the guideline query")
    queries = [base]
    facets = facets_for(base)
    if summary and _ASKS_FLAGS.search(question) and summary.get("flags"):
        for flag in summary["flags"][:_MAX_FLAG_QUERIES]:
            queries.append(_NOISE.sub(" ", f"{flag['summary']} {flag.get('threshold_source', '')}").strip())
            facets += [
                c for prefix, codes in _FLAG_FACETS.items() if flag["id"].startswith(prefix) for c in codes
            ]
        facets = list(dict.fromkeys(facets))
        why.append("the question asks about warning signs: one guideline query per early-warning flag")
    filters = ["superseded=false"]
    since = until = None
    if summary:
        problems = [str(p["display"]) for p in summary.get("problems", [])]
        related = [p for p in problems if facets and set(facets_for(p)) & set(facets)]
        if related:
            names = [_TAG.sub("", r).strip() for r in related[:3]]
            queries.append(f"{' '.join(_topic_words(question))} {' '.join(names)}")
            why.append(f"patient problems related to the question: {', '.join(related[:3])}")
        if summary.get("age") is not None:
            filters.append(f"age={summary['age']}")
        if summary.get("sex") in ("female", "male"):
            filters.append(f"sex={summary['sex']}")
        since, until = time_window(question, date.fromisoformat(summary["as_of"]))
        if since or until:
            why.append(f"time window {since or '…'} to {until or '…'}")
    if facets:
        why.append(f"watched series: {', '.join(facets)}")
    wanted = assessments_for(base) if summary else []
    if wanted:
        why.append(f"assessments: {', '.join(wanted)}")
    return {
        "guideline_queries": queries,
        "guideline_filters": filters,
        "facets": facets,
        "patient_types": types_for(question),
        "since": since,
        "until": until,
        "follow_up": follow_up,
        "assessments": wanted,
        "why": why,
    }
