"""guardrails-ai validators for the question: size, injection and jailbreak, clinical scope, other patients.

Every check reads the question with look-alike letters folded to Latin (:func:`patterns.canonical`),
so "Іgnоrе рrеviоus instructions" written in Cyrillic is caught like the plain one.
"""

from __future__ import annotations

import re
from typing import Any

from agent.safety.offline import prepare_offline

prepare_offline()

from guardrails.validator_base import (  # noqa: E402  (after the offline setup, on purpose)
    FailResult,
    PassResult,
    ValidationResult,
    Validator,
    register_validator,
)

from agent.safety.drugs import drugs_in  # noqa: E402
from agent.safety.patterns import (  # noqa: E402
    BULK_IDENTIFIERS,
    CLINICAL_TERMS,
    FOREIGN_PATIENT,
    INJECTION,
    OFF_TASK,
    OFF_TOPIC,
    canonical,
    normalize,
)

__all__ = ["ClinicalScope", "ForeignPatient", "PromptInjection", "SizeLimit"]

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


@register_validator(name="cra/size_limit", data_type="string")
class SizeLimit(Validator):
    """Fails an empty text, one longer than ``max_chars``, or one with more than ``max_lines`` lines."""

    def __init__(self, max_chars: int = 4000, max_lines: int = 60, **kwargs: Any) -> None:
        super().__init__(max_chars=max_chars, max_lines=max_lines, **kwargs)
        self.max_chars, self.max_lines = max_chars, max_lines

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text = str(value).strip()
        if not text:
            return FailResult(error_message="the question is empty")
        if len(text) > self.max_chars:
            return FailResult(error_message=f"{len(text)} characters (limit {self.max_chars})")
        if text.count("\n") + 1 > self.max_lines:
            return FailResult(error_message=f"more than {self.max_lines} lines")
        return PassResult()


@register_validator(name="cra/prompt_injection", data_type="string")
class PromptInjection(Validator):
    """Fails instruction overrides, role-play and jailbreak framings, also when obfuscated."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        m = INJECTION.search(normalize(str(value)))
        if m:
            return FailResult(
                error_message=f"instruction-override or jailbreak attempt ({m.group(0)[:40]!r})"
            )
        return PassResult()


# Words the clinical vocabulary accepts for patient questions ("how has her weight changed") that
# say nothing clinical on their own, so they cannot rescue an off-topic subject.
_WEAK = frozenset(
    {
        "her",
        "his",
        "she",
        "he",
        "they",
        "last",
        "latest",
        "recent",
        "level",
        "value",
        "result",
        "score",
        "test",
        "sign",
        "class",
        "grade",
        "history",
        "visit",
        "trend",
        "chang",
        "change",
        "changed",
        "changes",
        "target",
        "goal",
        "risk",
        "evidence",
        "population",
        "adult",
        "adults",
        "men",
        "women",
        "child",
    }
)


def _strong_clinical(text: str) -> bool:
    """A clinical subject beyond pronouns and generic words (or a drug name, or clinical shorthand)."""
    words = [m.group(0).lower() for m in CLINICAL_TERMS.finditer(text)]
    return bool(drugs_in(text) or _abbreviations(text)) or any(w not in _WEAK for w in words)


# Clinicians write in shorthand (ICH, SBP, TIA, DVT, CURB-65, TBSA); capitals that are not medical:
_NOT_CLINICAL_CAPS = frozenset(
    {
        "I",
        "A",
        "OK",
        "US",
        "USA",
        "UK",
        "EU",
        "UN",
        "TV",
        "AI",
        "CEO",
        "FAQ",
        "PDF",
        "SQL",
        "HTML",
        "CSS",
        "API",
        "NBA",
        "NFL",
        "NHL",
        "MLB",
        "FIFA",
        "BTC",
        "ETH",
        "IPO",
        "GDP",
        "VAT",
        "IRS",
        "USB",
        "GPS",
        "PC",
        "AM",
        "PM",
        "JSON",
        "XML",
        "HTTP",
        "URL",
        "ID",
        "IT",
        "HR-",
        "LOL",
        "OMG",
        "DIY",
        "NYC",
        "LA",
        "SF",
    }
)
_CAPS = re.compile(r"\b[A-Z][A-Z0-9]{1,5}(?:-\d{1,3})?\b")


def _abbreviations(text: str) -> bool:
    """Whether the question uses clinical shorthand: a capitalised abbreviation that is not everyday."""
    return any(m.group(0) not in _NOT_CLINICAL_CAPS for m in _CAPS.finditer(text))


@register_validator(name="cra/clinical_scope", data_type="string")
class ClinicalScope(Validator):
    """Fails requests outside clinical decision support: a non-clinical task, or no clinical subject at all."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text = canonical(str(value))
        m = OFF_TASK.search(text)
        if m:
            return FailResult(error_message=f"outside clinical decision support ({m.group(0)[:30]!r})")
        clinical = bool(CLINICAL_TERMS.search(text) or drugs_in(text) or _abbreviations(text))
        m = OFF_TOPIC.search(text)
        if m and not _strong_clinical(text):
            return FailResult(error_message=f"outside clinical decision support ({m.group(0)[:30]!r})")
        if not clinical and not metadata.get("patient_id"):  # about a patient's record is clinical already
            return FailResult(error_message="no clinical subject: this assistant answers clinical questions")
        return PassResult()


@register_validator(name="cra/foreign_patient", data_type="string")
class ForeignPatient(Validator):
    """Fails a question that reaches for a patient other than the one in context (``metadata['patient_id']``)."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text = canonical(str(value))
        own = str(metadata.get("patient_id") or "").lower()
        others = {u.lower() for u in _UUID.findall(text)} - {own}
        if others:
            return FailResult(error_message="the question names another patient's identifier")
        m = BULK_IDENTIFIERS.search(text)
        if m:
            return FailResult(error_message=f"a bulk request for patient identifiers ({m.group(0)[:30]!r})")
        m = FOREIGN_PATIENT.search(text)
        if m:
            return FailResult(error_message=f"asks for other patients' data ({m.group(0)[:30]!r})")
        return PassResult()
