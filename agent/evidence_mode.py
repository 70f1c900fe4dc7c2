"""The answer without an LLM: the most relevant evidence, quoted and cited, or an abstention.

It is deterministic and extractive (every sentence is copied from the item it cites), so it is
what the agent falls back to whenever the LLM is missing, down, or fails its checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.retrieve import MIN_GUIDELINE_RELEVANCE
from agent.text import content_words, overlap, sentences

__all__ = ["EVIDENCE_LABEL", "MIN_GUIDELINE_RELEVANCE", "evidence_answer", "relevant_guidelines"]

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


def relevant_guidelines(items: Sequence[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Guideline items at or above the relevance threshold, best first."""
    gs = [
        i
        for i in items
        if i["kind"] == "guideline" and i.get("covers", float(i.get("relevance", 0)) >= threshold)
    ]
    return sorted(gs, key=lambda i: -float(i["relevance"]))


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
    guides = relevant_guidelines(items, threshold)[:_MAX_GUIDELINES]
    facts = [i for i in items if i["kind"] == "patient" and i.get("computed")][:_MAX_FACTS]
    events = [
        i
        for i in items
        if i["kind"] == "patient"
        and not i.get("computed")
        and float(i.get("relevance", 0)) >= MIN_EVENT_RELEVANCE
    ][:_MAX_EVENTS]
    if not guides and not (patient_id and (facts or events)):
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
    lines = [EVIDENCE_LABEL, ""]
    if guides:
        lines.append("**Guideline passages**")
        for g in guides:
            lines.append(f"- {_excerpt(g, words)} [{g['id']}]")
    else:
        lines.append(
            "No indexed guideline passage is close enough to this question; only the patient's record is shown."
        )
    if patient_id and (facts or events):
        lines += ["", "**Patient record**"]
        lines += [f"- {f['text']} [{f['id']}]" for f in facts]
        lines += [f"- {_clip(str(e['text']))} [{e['id']}]" for e in events]
    return {"answer": "\n".join(lines), "mode": "evidence", "reason": ""}
