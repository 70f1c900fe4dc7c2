"""The answer without an LLM: the verdicts first, then the most relevant evidence quoted and cited.

It is deterministic and extractive (every sentence is copied from the item it cites), so it is
what the agent falls back to whenever the LLM is missing, down, or fails its checks. When the
question asked for a record value (a direct record question) or needs computed assessments, the
answer opens with those sentences, each citing its ``[A#]``, the ``[P#]`` entries it read and the
``[G#]`` passage it implements, before any quoted passage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.retrieve import MIN_GUIDELINE_RELEVANCE
from agent.text import content_words, overlap, sentences

__all__ = [
    "EVIDENCE_LABEL",
    "MIN_GUIDELINE_RELEVANCE",
    "cite_sentences",
    "evidence_answer",
    "opening_sentences",
    "relevant_guidelines",
]

EVIDENCE_LABEL = (
    "**Evidence summary, without model reasoning.** The guideline passages and patient facts below "
    "were retrieved for this question and are quoted as found; no language model interpreted them."
)
# Below this dense cosine a guideline passage does not cover the question unless it names one of
# the question's specific terms (agent.retrieve.covers decides and marks each item).
# The same for a single record entry found by search (computed facts are always shown).
MIN_EVENT_RELEVANCE = 0.45
_MAX_GUIDELINES = 3
_MAX_SENTENCES = 2
_MAX_CHARS = 480
_MAX_ROWS = 5
_MAX_EVENTS = 3
_MAX_FACTS = 8
_MAX_ASSESSMENTS = 5
_MAX_INPUT_MARKERS = 3  # the first inputs in the sentence; the [A#] item cites them all


def relevant_guidelines(items: Sequence[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Guideline items at or above the relevance threshold, best first."""
    gs = [
        i
        for i in items
        if i["kind"] == "guideline" and i.get("covers", float(i.get("relevance", 0)) >= threshold)
    ]
    return sorted(gs, key=lambda i: -float(i["relevance"]))


def cite_sentences(text: str, ids: Sequence[str]) -> str:
    """``text`` with the markers of ``ids`` closing each of its sentences (so every sentence is cited)."""
    markers = "".join(f"[{i}]" for i in dict.fromkeys(ids) if i)
    out = []
    for sentence in sentences(" ".join(text.split())):
        body, end = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (sentence, ".")
        out.append(f"{body} {markers}{end}" if markers else f"{body}{end}")
    return " ".join(out)


def opening_sentences(items: Sequence[dict[str, Any]]) -> list[str]:
    """The direct answer to a record question, then one line per assessment, each cited."""
    lines = [
        cite_sentences(str(i["text"]), [i["id"]]) for i in items if i["kind"] == "patient" and i.get("direct")
    ]
    for a in [i for i in items if i["kind"] == "assessment"][:_MAX_ASSESSMENTS]:
        ids = [a["id"], *a.get("inputs_cited", [])[:_MAX_INPUT_MARKERS], a.get("source_id", "")]
        lines.append(cite_sentences(str(a["text"]), ids))
    return lines


def _quoted_guidelines(
    items: Sequence[dict[str, Any]], threshold: float, words: set[str], assessed: bool
) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """The passages to quote: the assessments' sources first (each excerpted around what its rule
    implements), then the most relevant; and the words each excerpt is chosen by."""
    by_id = {i["id"]: i for i in items}
    sources = (
        [a for a in items if a["kind"] == "assessment" and a.get("source_id") in by_id] if assessed else []
    )
    focus = {a["source_id"]: content_words(str(a.get("passage_query", ""))) or words for a in sources}
    chosen = [by_id[i] for i in dict.fromkeys(a["source_id"] for a in sources)]
    chosen += [g for g in relevant_guidelines(items, threshold) if g["id"] not in focus]
    return chosen[:_MAX_GUIDELINES], focus


def _clip(text: str, limit: int = 240) -> str:
    """A record entry cut at a word boundary (long clinical notes are cited, not reprinted)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _heading(text: str) -> bool:
    """A short line with no sentence in it (a section title): it names a topic, it says nothing."""
    return not text.startswith("|") and len(text.split()) < 6 and not text.rstrip().endswith((".", ":"))


def _header_row(text: str) -> bool:
    """A table row with no digit in it is most likely a header: it says nothing on its own."""
    return text.startswith("|") and not any(ch.isdigit() for ch in text)


def _excerpt(item: dict[str, Any], words: set[str]) -> str:
    """The passage's sentences that share most words with the question, in their original order."""
    found = sentences(str(item.get("text", "")))
    if not found:
        return ""
    score = {n: overlap(words, found[n]) for n in range(len(found))}
    useful = [n for n in score if score[n] > 0 and not _header_row(found[n]) and not _heading(found[n])]
    useful = useful or [n for n in score if not _heading(found[n])] or [0]
    picked = set(sorted(useful, key=lambda n: (-score[n], n))[:_MAX_SENTENCES])
    for n in sorted(picked):
        if found[n].endswith(":"):  # a lead-in: the rows it introduces are the substance
            rows = [m for m in range(n + 1, min(n + 1 + _MAX_ROWS, len(found))) if found[m].startswith("|")]
            picked.update(m for m in rows if not _header_row(found[m]))
    chosen = " ".join(found[n] for n in sorted(picked))
    return chosen if len(chosen) <= _MAX_CHARS else chosen[: _MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def evidence_answer(
    question: str,
    items: Sequence[dict[str, Any]],
    *,
    patient_id: str | None,
    threshold: float = MIN_GUIDELINE_RELEVANCE,
) -> dict[str, Any]:
    """``answer`` (Markdown with markers), ``mode`` (``evidence`` or ``abstain``) and ``reason``."""
    words = content_words(question)
    opening = opening_sentences(items)  # assessments exist only when computed (dose checks need no patient)
    guides, focus = _quoted_guidelines(items, threshold, words, bool(opening))
    facts = [i for i in items if i["kind"] == "patient" and i.get("computed") and not i.get("direct")]
    facts = facts[:_MAX_FACTS]
    events = [
        i
        for i in items
        if i["kind"] == "patient"
        and not i.get("computed")
        and not i.get("assessment_input")
        and float(i.get("relevance", 0)) >= MIN_EVENT_RELEVANCE
    ][:_MAX_EVENTS]
    if not guides and not opening and not (patient_id and (facts or events)):
        best = max((float(i.get("relevance", 0)) for i in items if i["kind"] == "guideline"), default=None)
        why = (
            "no indexed guideline passage is close enough to the question"
            + (f" (best relevance {best:.2f}, threshold {threshold:.2f})" if best is not None else "")
            + ("" if patient_id else ", and no patient was given")
        )
        return {
            "answer": f"I cannot answer this from the indexed evidence: {why}. "
            "Please consult the primary literature or a specialist.",
            "mode": "abstain",
            "reason": why,
        }
    lines = [*opening, ""] if opening else []
    lines += [EVIDENCE_LABEL, ""]
    if guides:
        lines.append("**Guideline passages**")
        for g in guides:
            lines.append(f"- {_excerpt(g, focus.get(g['id'], words))} [{g['id']}]")
    else:
        lines.append(
            "No indexed guideline passage is close enough to this question; only the patient's record is shown."
        )
    if patient_id and (facts or events):
        lines += ["", "**Patient record**"]
        lines += [f"- {f['text']} [{f['id']}]" for f in facts]
        lines += [f"- {_clip(str(e['text']))} [{e['id']}]" for e in events]
    return {"answer": "\n".join(lines), "mode": "evidence", "reason": ""}
