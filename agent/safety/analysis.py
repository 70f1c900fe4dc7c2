"""One pass over a drafted answer that every output validator reads: sentences, citations, sources, PHI."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.evidence_mode import MIN_GUIDELINE_RELEVANCE
from agent.safety.drugs import DoseTable
from agent.safety.grounding import (
    LEXICAL_PASS,
    SUPPORT_THRESHOLD,
    Sentence,
    dates_in,
    is_claim,
    lexical_support,
    plain,
    split_answer,
    support_scores,
    traced,
)
from agent.safety.phi import PhiFinding
from agent.schema import markers_in
from agent.text import numbers_in

__all__ = ["Analysis", "analyse"]

_DECLINES = re.compile(
    r"\b(?:cannot|can't|unable|not able|insufficient|not enough|does not (?:cover|support|address)|no (?:indexed )?(?:evidence|guideline))\b",
    re.I,
)


@dataclass
class Analysis:
    """What the validators share; they add to ``bad`` (sentences to strip) and ``hard`` (draft-level)."""

    answer: str
    full_text: str
    claims_text: str
    by_id: dict[str, dict[str, Any]]
    patient_id: str
    abstain: bool
    sentences: list[Sentence]
    cited: list[str]
    doses: DoseTable
    evidence_text: str
    evidence_ids: set[str]
    covered: bool
    phi: list[PhiFinding] = field(default_factory=list)
    phi_values: list[tuple[str, str]] = field(default_factory=list)  # never logged
    bad: set[str] = field(default_factory=set)
    hard: set[str] = field(default_factory=set)

    @property
    def valid_cites(self) -> list[str]:
        return [c for c in dict.fromkeys(self.cited) if c in self.by_id]

    @staticmethod
    def declines(text: str) -> bool:
        return bool(_DECLINES.search(text))


def _consistency(s: Sentence, by_id: dict[str, dict[str, Any]]) -> list[str]:
    """Numbers and dates of a sentence that cites patient entries but are not in those entries."""
    patient_src = " ".join(
        f"{by_id[c].get('text', '')} {by_id[c].get('date', '')}"
        for c in s.cites
        if c in by_id and by_id[c]["kind"] in ("patient", "assessment")  # an assessment states record values
    )
    if s.extractive or not patient_src:
        return []
    guide_src = " ".join(
        by_id[c].get("text", "") for c in s.cites if c in by_id and by_id[c]["kind"] == "guideline"
    )
    body = plain(s.text)
    known = set(numbers_in(patient_src)) | set(numbers_in(guide_src))
    out = [n for n in numbers_in(body) if n not in known]
    return out + [d for d in dates_in(body) if d.lower() not in patient_src.lower()]


def analyse(
    answer: str,
    claims: Sequence[dict[str, Any]],
    evidence: Sequence[dict[str, Any]],
    patient_id: str | None,
    *,
    abstain: bool,
    doses: DoseTable,
    encoder: Any,
    find_phi: Callable[[str, list[str]], list[PhiFinding]] | None,
    relevance_threshold: float = MIN_GUIDELINE_RELEVANCE,
) -> Analysis:
    """Split, trace and score the draft once; the validators only read the result."""
    by_id = {e["id"]: e for e in evidence}
    sents = split_answer(answer, by_id)
    claims_text = " ".join(str(c.get("text", "")) for c in claims)
    cited = markers_in(answer) + [c for claim in claims for c in claim.get("citations", [])]
    to_score: list[Sentence] = []
    for s in sents:
        if not s.cites:
            if not abstain and is_claim(s.text):
                s.problems.append("no citation")
            continue
        s.problems += [f"not in the cited source: {', '.join(m)}" for m in [traced(s)] if m]
        s.consistency = _consistency(s, by_id)
        s.lexical = lexical_support(s)
        if not s.problems and s.lexical < LEXICAL_PASS and s.source and is_claim(s.text):
            to_score.append(s)
    if encoder is not None and to_score:
        for s, score in zip(
            to_score, support_scores(encoder, [(plain(s.text), s.source) for s in to_score]), strict=True
        ):
            if score < SUPPORT_THRESHOLD:
                s.problems.append(f"semantic support {score:.2f} < {SUPPORT_THRESHOLD}")
    evidence_text = " ".join(str(e.get("text", "")) for e in evidence).lower()
    covered = any(
        e["kind"] in ("patient", "assessment")
        or e.get("covers", float(e.get("relevance", 0)) >= relevance_threshold)
        for e in evidence
    )
    phi: list[PhiFinding] = []
    phi_values: list[tuple[str, str]] = []
    if find_phi is not None:
        generated = "\n".join([*(s.text for s in sents if not s.extractive), claims_text])
        phi = find_phi(generated, [str(e.get("text", "")) for e in evidence])
        phi_values = [(f.entity, generated[f.start : f.end]) for f in phi]
    return Analysis(
        answer=answer,
        full_text=answer + "\n" + claims_text,
        claims_text=claims_text,
        by_id=by_id,
        patient_id=str(patient_id or "").lower(),
        abstain=abstain,
        sentences=sents,
        cited=cited,
        doses=doses,
        evidence_text=evidence_text,
        evidence_ids={
            str(x).lower() for e in evidence for x in [e.get("resource_id", ""), *e.get("event_ids", [])] if x
        },
        covered=covered,
        phi=phi,
        phi_values=phi_values,
    )
