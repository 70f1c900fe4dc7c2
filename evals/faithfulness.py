"""Scoring one answer for ``faithfulness``: valid citations, supported sentences, abstention.

* A citation is valid when its marker names an evidence item the agent actually retrieved for
  that question (the answer's ``evidence`` list).
* A clinical sentence (a number, or at least five content words, and not a hedge or a heading)
  is supported when it cites at least one valid item, every number it states appears in the
  cited text (or the cited entry's date), and at least ``MIN_OVERLAP`` of its content words
  appear there. This is a lexical check: no NLI model is available offline here, so a sentence
  that paraphrases its source faithfully but with other words counts as unsupported (strict),
  and one that copies the words but inverts the meaning would count as supported (lenient).
* Abstention is correct when the agent abstains exactly on the questions the corpus cannot answer.
  A refusal by the input guard (out of scope) is not an abstention: on an answerable or an
  unanswerable clinical question it is counted wrong, and reported on its own.
"""

from __future__ import annotations

import re
from typing import Any

from agent.evidence_mode import EVIDENCE_LABEL
from agent.schema import markers_in
from agent.text import content_words, numbers_in, sentences

__all__ = ["MIN_OVERLAP", "clinical_sentences", "score_answer", "supported"]

MIN_OVERLAP = 0.6
_HEDGES = ("i cannot", "i can't", "no indexed", "please consult", "consult ", "the evidence does not")
_MARKERS = re.compile(r"\[[GPA]\d{1,3}(?:\s*[,;]\s*[GPA]\d{1,3})*\]")
_HEADING = re.compile(r"^\*\*[^*]+\*\*:?$|^#+\s")


def clinical_sentences(answer: str) -> list[tuple[str, list[str]]]:
    """The sentences of ``answer`` that state something clinical, each with the ids it cites."""
    out = []
    for sentence in sentences(answer.replace(EVIDENCE_LABEL, "")):
        plain = _MARKERS.sub(" ", sentence)
        body = re.sub(r"[*_#>`|]", " ", plain).strip(" -")
        low = body.lower()
        if not body or _HEADING.match(sentence.strip()) or low.startswith(_HEDGES):
            continue
        if numbers_in(body) or len(content_words(body)) >= 5:
            out.append((sentence, markers_in(sentence)))
    return out


def supported(sentence: str, sources: list[str]) -> bool:
    """Whether the cited ``sources`` carry the sentence's numbers and most of its words."""
    if not sources:
        return False
    body = _MARKERS.sub(" ", sentence)
    source = " ".join(sources)
    if set(numbers_in(body)) - set(numbers_in(source)):
        return False
    words = content_words(body)
    if not words:
        return True
    return len(words & content_words(source)) / len(words) >= MIN_OVERLAP


def _source_text(citation: dict[str, Any]) -> str:
    return f"{citation.get('text', '')} {citation.get('date', '')}"


def score_answer(result: dict[str, Any], *, answerable: bool) -> dict[str, Any]:
    """The faithfulness scores of one answer JSON (``Agent.ask``'s result)."""
    answer = str(result.get("answer", ""))
    evidence_ids = {e["id"] for e in result.get("evidence", [])}
    cited_text = {c["id"]: _source_text(c) for c in result.get("citations", [])}
    markers = markers_in(answer)
    valid = [m for m in markers if m in evidence_ids]
    abstained = result.get("mode") == "abstain"
    refused = result.get("mode") == "refused"
    claims = clinical_sentences(answer) if not (abstained or refused) else []
    support = [supported(s, [cited_text[i] for i in ids if i in cited_text]) for s, ids in claims]
    unsupported = [s[:160] for (s, _), ok in zip(claims, support, strict=True) if not ok]
    return {
        "citations": len(markers),
        "citations_valid": len(valid),
        "clinical_sentences": len(claims),
        "supported_sentences": sum(support),
        "unsupported_examples": unsupported[:3],
        "abstained": abstained,
        "refused": refused,
        "abstention_correct": not refused and abstained != answerable,
    }
