"""The input guard: a guardrails-ai ``Guard`` over the question, plus the patient authorization hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.guards import check, report
from agent.safety.guard_run import make_guard, run_guard
from agent.safety.input_validators import ClinicalScope, ForeignPatient, PromptInjection, SizeLimit

__all__ = ["SafetyInputGuard"]

_PATIENT_ID = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
_NAMES = {
    "SizeLimit": "size",
    "PromptInjection": "prompt_injection",
    "ClinicalScope": "clinical_scope",
    "ForeignPatient": "other_patient",
}


@dataclass
class SafetyInputGuard:
    """Size, injection/jailbreak, scope and other-patient checks; ``authorize`` decides patient access."""

    max_chars: int = 4000
    authorize: Callable[[str], bool] = field(default=lambda _pid: True)

    def __post_init__(self) -> None:
        from guardrails_ai.regex_match import RegexMatch

        self._guard = make_guard(
            [
                SizeLimit(max_chars=self.max_chars, on_fail="noop"),
                PromptInjection(on_fail="noop"),
                ClinicalScope(on_fail="noop"),
                ForeignPatient(on_fail="noop"),
            ]
        )
        self._patient_id = make_guard([RegexMatch(regex=_PATIENT_ID, match_type="fullmatch", on_fail="noop")])

    def __call__(self, question: str, patient_id: str | None) -> dict[str, Any]:
        checks = run_guard(self._guard, question or " ", _NAMES, {"patient_id": patient_id})
        if patient_id is not None:
            well_formed = run_guard(self._patient_id, patient_id, {"RegexMatch": "patient_id_format"}, {})
            checks += [
                {**well_formed[0], "detail": "malformed patient id" if not well_formed[0]["passed"] else ""}
            ]
            allowed = well_formed[0]["passed"] and self.authorize(patient_id)
            checks.append(
                check("patient_authorized", allowed, "" if allowed else "not allowed to see this patient")
            )
        return report(checks)
