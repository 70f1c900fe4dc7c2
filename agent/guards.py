"""The guard steps of the graph behind two small protocols, with the checks the agent always runs.

A guard returns a report ``{"passed": bool, "checks": [{"name", "passed", "detail"}]}``. The
checks here are the agent's own floor (input limits, patient authorization, citation validity,
citation coverage, numbers traceable to their sources, isolation); richer guards plug in through
the same protocols.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.evidence_mode import EVIDENCE_LABEL
from agent.schema import markers_in
from agent.text import is_claim, numbers_in, sentences
from agent.verdicts import contradictions

__all__ = [
    "BasicInputGuard",
    "BasicOutputGuard",
    "EvidenceGuard",
    "InputGuard",
    "OutputGuard",
    "assessment_check",
    "check",
    "pass_evidence",
    "report",
]

Check = dict[str, Any]
Authorizer = Callable[[str], bool]

_INJECTION = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above) (instructions|rules)|disregard (your|the) (rules|instructions)"
    r"|you are now|system prompt|developer mode|jailbreak",
    re.I,
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


def check(name: str, passed: bool, detail: str = "") -> Check:
    """One line of a guard report."""
    return {"name": name, "passed": bool(passed), "detail": detail}


def report(checks: Sequence[Check]) -> dict[str, Any]:
    """A guard report: passed when every check passed."""
    return {"passed": all(c["passed"] for c in checks), "checks": list(checks)}


class EvidenceGuard(Protocol):
    def __call__(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check]]:
        """Retrieved items made safe to show the LLM (flagged, neutralized or dropped), with its checks."""
        ...


def pass_evidence(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check]]:
    """The evidence guard that changes nothing (richer guards replace it)."""
    return items, []


class InputGuard(Protocol):
    def __call__(self, question: str, patient_id: str | None) -> dict[str, Any]:
        """Report on the question before anything is retrieved."""
        ...


class OutputGuard(Protocol):
    def __call__(
        self,
        answer: str,
        claims: Sequence[dict[str, Any]],
        evidence: Sequence[dict[str, Any]],
        patient_id: str | None,
        *,
        abstain: bool = False,
    ) -> dict[str, Any]:
        """Report on a drafted answer against the evidence it was given (``abstain``: it declines)."""
        ...


@dataclass
class BasicInputGuard:
    """Size limits, patient authorization and blatant instruction-override attempts."""

    max_chars: int = 4000
    authorize: Authorizer = field(default=lambda _pid: True)

    def __call__(self, question: str, patient_id: str | None) -> dict[str, Any]:
        text = question.strip()
        checks = [
            check("not_empty", bool(text), "" if text else "the question is empty"),
            check(
                "size",
                len(text) <= self.max_chars,
                f"{len(text)} characters (limit {self.max_chars})" if len(text) > self.max_chars else "",
            ),
        ]
        if patient_id is not None:
            allowed = self.authorize(patient_id)
            checks.append(
                check("patient_authorized", allowed, "" if allowed else "not allowed to see this patient")
            )
        m = _INJECTION.search(text)
        checks.append(check("prompt_injection", m is None, f"override attempt: {m.group(0)!r}" if m else ""))
        return report(checks)


def _cited_sentences(answer: str) -> list[tuple[str, list[str]]]:
    return [(s, markers_in(s)) for s in sentences(answer)]


@dataclass
class BasicOutputGuard:
    """Citations exist and cover the clinical sentences; numbers and patient ids trace to evidence."""

    def __call__(
        self,
        answer: str,
        claims: Sequence[dict[str, Any]],
        evidence: Sequence[dict[str, Any]],
        patient_id: str | None,
        *,
        abstain: bool = False,
    ) -> dict[str, Any]:
        answer = answer.replace(EVIDENCE_LABEL, "")
        by_id = {e["id"]: e for e in evidence}
        cited = markers_in(answer) + [c for claim in claims for c in claim.get("citations", [])]
        unknown = sorted({c for c in cited if c not in by_id})
        checks = [
            check(
                "citations_exist",
                not unknown,
                f"not in the evidence: {', '.join(unknown)}" if unknown else "",
            )
        ]
        uncited, untraced = [], []
        for sentence, ids in _cited_sentences(answer):
            body = re.sub(r"[*_#>`-]", " ", sentence).strip()
            if not ids:
                if not abstain and is_claim(body):
                    uncited.append(sentence[:80])
                continue
            source = " ".join(
                str(by_id[i].get("text", "")) + " " + str(by_id[i].get("date", "")) for i in ids if i in by_id
            )
            source_numbers = set(numbers_in(source))
            missing = [n for n in numbers_in(re.sub(r"\[[^\]]*\]", " ", body)) if n not in source_numbers]
            if missing:
                untraced.append(f"{sentence[:60]}… ({', '.join(missing[:4])})")
        valid = [c for c in cited if c in by_id]
        checks.append(
            check(
                "grounded", abstain or bool(valid), "" if abstain or valid else "the answer cites no evidence"
            )
        )
        checks.append(check("claims_cited", not uncited, "; ".join(uncited[:3])))
        checks.append(check("numbers_traceable", not untraced, "; ".join(untraced[:3])))
        others = {u.lower() for u in _UUID.findall(answer)} - {str(patient_id or "").lower()}
        others -= {str(e.get("resource_id", "")).lower() for e in evidence}
        checks.append(
            check("patient_isolation", not others, f"foreign identifiers: {len(others)}" if others else "")
        )
        checks.append(assessment_check(sentences(answer), evidence))
        return report(checks)


def assessment_check(answer_sentences: Sequence[str], evidence: Sequence[dict[str, Any]]) -> Check:
    """Fails when a sentence states a verdict other than a computed assessment's (``agent.verdicts``)."""
    found = contradictions(answer_sentences, evidence)
    return check("assessment_consistent", not found, "; ".join(c.describe() for c in found[:3]))
