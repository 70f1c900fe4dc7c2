"""guardrails-ai validators for a drafted answer. Each reads the shared analysis in ``metadata['a']``.

A failure lists the offending sentences in ``metadata['a'].bad`` so the guard can strip them and
check again; failures that condemn the whole draft (a fabricated citation id, another patient's data,
PHI) are marked ``hard``.
"""

from __future__ import annotations

import re
from typing import Any

from agent.safety.offline import prepare_offline

prepare_offline()

from guardrails.validator_base import (  # noqa: E402
    FailResult,
    PassResult,
    ValidationResult,
    Validator,
    register_validator,
)

from agent.safety.analysis import Analysis  # noqa: E402
from agent.safety.patterns import INJECTION, URL  # noqa: E402
from agent.verdicts import contradictions  # noqa: E402

__all__ = [
    "Abstention",
    "AssessmentConsistency",
    "CitationValidity",
    "DoseSafety",
    "Grounding",
    "InjectedContent",
    "PatientConsistency",
    "PatientIsolation",
    "PhiLeak",
]

_FABRICATED_REF = re.compile(
    r"\bet al\.?|\bdoi:|\bpmid\b|\bN Engl J Med\b|\bNEJM\b|\bLancet\b|\bJAMA\b|\bBMJ\b", re.I
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_PATIENT_VALUE = re.compile(r"\b(?:her|his|their|the patient'?s?|this patient'?s?)\b[^.]{0,60}\d", re.I)


def _a(metadata: dict[str, Any]) -> Analysis:
    return metadata["a"]


def _result(problems: list[str]) -> ValidationResult:
    return FailResult(error_message="; ".join(problems[:3])) if problems else PassResult()


@register_validator(name="cra/citation_validity", data_type="string")
class CitationValidity(Validator):
    """Every [G#]/[P#] was retrieved for this question; no invented literature references."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        unknown = sorted({c for c in a.cited if c not in a.by_id})
        problems = [f"not in the evidence: {', '.join(unknown)}"] if unknown else []
        if unknown:
            a.hard.add("citations_exist")
        for s in a.sentences:
            m = _FABRICATED_REF.search(s.text)
            if m and m.group(0).lower() not in a.evidence_text:
                problems.append(f"reference not in the evidence ({m.group(0)})")
                a.bad.add(s.text)
        return _result(problems)


@register_validator(name="cra/grounding", data_type="string")
class Grounding(Validator):
    """Clinical sentences cite evidence that contains what they state and supports them semantically."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        if a.abstain:
            return PassResult()
        problems = [] if a.valid_cites else ["the answer cites no evidence"]
        for s in a.sentences:
            if s.problems:
                problems.append(f"{s.text[:60]}… ({'; '.join(s.problems[:2])})")
                a.bad.add(s.text)
        return _result(problems)


@register_validator(name="cra/patient_consistency", data_type="string")
class PatientConsistency(Validator):
    """Values and dates stated about the patient are in the patient entries cited for them."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        problems = []
        for s in a.sentences:
            kinds = {a.by_id[c]["kind"] for c in s.cites if c in a.by_id}
            if _PATIENT_VALUE.search(s.text) and kinds == {"guideline"}:
                problems.append(f"a patient value cited to a guideline: {s.text[:50]}…")
                a.bad.add(s.text)
            elif "patient" in kinds and s.consistency:
                problems.append(f"{s.text[:50]}… not in the record ({', '.join(s.consistency[:3])})")
                a.bad.add(s.text)
        return _result(problems)


@register_validator(name="cra/patient_isolation", data_type="string")
class PatientIsolation(Validator):
    """No identifier or entry of a patient other than the context patient."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        known = {a.patient_id} | a.evidence_ids
        foreign = {u.lower() for u in _UUID.findall(a.full_text)} - known
        wrong = [
            c
            for c in a.valid_cites
            if a.by_id[c].get("patient_id") and a.by_id[c]["patient_id"] != a.patient_id
        ]
        problems = [f"foreign patient identifiers: {len(foreign)}"] if foreign else []
        problems += [f"entries of another patient cited: {', '.join(wrong)}"] if wrong else []
        if problems:
            a.hard.add("patient_isolation")
        return _result(problems)


@register_validator(name="cra/dose_safety", data_type="string")
class DoseSafety(Validator):
    """Doses inside the span the indexed guideline tables and text give for that drug."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        problems = []
        for s in a.sentences:
            if s.extractive and any(a.by_id[c]["kind"] == "assessment" for c in s.cites if c in a.by_id):
                continue  # a computed dose check's own words: it states that a dose is out of range
            unsafe = a.doses.unsafe(s.text)
            if unsafe:
                problems += unsafe
                a.bad.add(s.text)
        unsafe_claims = a.doses.unsafe(a.claims_text)
        if unsafe_claims:
            problems += unsafe_claims
            a.hard.add("dose_safety")
        return _result(problems)


@register_validator(name="cra/phi", data_type="string")
class PhiLeak(Validator):
    """No names or identifiers that are not the context patient's own evidence (Presidio + spaCy)."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        if not a.phi:
            return PassResult()
        a.hard.add("phi")
        kinds = sorted({f.entity for f in a.phi})
        return FailResult(error_message=f"{len(a.phi)} identifier(s) removed ({', '.join(kinds)})")


@register_validator(name="cra/abstention", data_type="string")
class Abstention(Validator):
    """An answer the evidence does not cover must decline, and a declining answer must say why."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        if a.abstain:
            ok = a.declines(value)
            return PassResult() if ok else FailResult(error_message="abstains without saying so")
        if not a.covered:
            a.hard.add("abstention")
            return FailResult(
                error_message="the evidence does not cover the question; the answer should abstain"
            )
        return PassResult()


@register_validator(name="cra/injected_content", data_type="string")
class InjectedContent(Validator):
    """No links, addresses or reader-directed instructions the evidence does not contain."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        problems = []
        for s in a.sentences:
            links = [u for u in URL.findall(s.text) if u.lower() not in a.evidence_text]
            if links or INJECTION.search(s.text):
                problems.append(f"instruction or link in the answer: {s.text[:50]}…")
                a.bad.add(s.text)
        return _result(problems)


@register_validator(name="cra/assessment_consistency", data_type="string")
class AssessmentConsistency(Validator):
    """No sentence states a verdict other than a computed assessment's (statin intensity, CKD stage,
    referral, BP or glycemic category); a contradiction fails the whole draft."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        a = _a(metadata)
        copied = [s.text for s in a.sentences if s.extractive]
        found = contradictions([s.text for s in a.sentences], list(a.by_id.values()), skip=copied)
        if found:
            a.hard.add("assessment_consistency")
            a.bad.update(c.sentence for c in found)
        return _result([c.describe() for c in found])
