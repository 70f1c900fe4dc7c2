"""The output guard: a guardrails-ai ``Guard`` of nine checks over every drafted answer.

Unsupported or unsafe sentences are stripped and the rest is checked again; the answer survives
only when what is left still cites evidence and passes. Draft-level failures (a fabricated citation
id, another patient's data, PHI, a claim list with an unsafe dose, an answer where the evidence
called for an abstention, a verdict that contradicts a computed assessment) fail the draft, so the graph repairs it once or falls back. PHI is
redacted from the draft either way, so it reaches neither the answer nor the thread's state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agent.guards import Check, check, report
from agent.safety.analysis import Analysis, analyse
from agent.safety.drugs import DoseTable
from agent.safety.guard_run import make_guard, run_guard
from agent.safety.output_validators import (
    Abstention,
    AssessmentConsistency,
    CitationValidity,
    DoseSafety,
    Grounding,
    InjectedContent,
    PatientConsistency,
    PatientIsolation,
    PhiLeak,
)
from agent.safety.phi import PhiFinding, phi_scanner

__all__ = ["SafetyOutputGuard"]

log = logging.getLogger(__name__)

_WITHHELD = "detail withheld: the draft contained identifiers"
_NAMES = {
    "CitationValidity": "citations_exist",
    "Grounding": "grounded",
    "PatientConsistency": "patient_consistency",
    "PatientIsolation": "patient_isolation",
    "DoseSafety": "dose_safety",
    "PhiLeak": "phi",
    "Abstention": "abstention",
    "InjectedContent": "no_injected_content",
    "AssessmentConsistency": "assessment_consistent",
}


class SafetyOutputGuard:
    """Checks a draft against its evidence; ``guideline_texts`` feeds the dose table (read once, lazily)."""

    def __init__(
        self,
        guideline_texts: Callable[[], Iterable[str]] | None = None,
        *,
        encoder: Any = None,
        phi: bool = True,
    ) -> None:
        self._texts = guideline_texts
        self._doses: DoseTable | None = None
        self._lock = threading.Lock()
        self.encoder = encoder
        self._phi = phi
        self._guard = make_guard(
            [
                CitationValidity(on_fail="noop"),
                Grounding(on_fail="noop"),
                PatientConsistency(on_fail="noop"),
                PatientIsolation(on_fail="noop"),
                DoseSafety(on_fail="noop"),
                PhiLeak(on_fail="noop"),
                Abstention(on_fail="noop"),
                InjectedContent(on_fail="noop"),
                AssessmentConsistency(on_fail="noop"),
            ]
        )

    @property
    def doses(self) -> DoseTable:
        """The dose table of the indexed guidelines (parsed on first use)."""
        with self._lock:
            if self._doses is None:
                self._doses = DoseTable.from_texts(self._texts() if self._texts else [])
                log.info("dose table: %d drug/unit spans", len(self._doses.spans))
            return self._doses

    def warm_up(self) -> None:
        """Load the dose table and the PHI model now instead of on the first answer."""
        _ = self.doses
        if self._phi:
            phi_scanner().find("warm up", [])

    def _find_phi(self, text: str, allowed: list[str]) -> list[PhiFinding]:
        return phi_scanner().find(text, allowed)

    def _check(self, answer: str, claims: Sequence[dict[str, Any]], evidence: Sequence[dict[str, Any]],
               patient_id: str | None, abstain: bool) -> tuple[Analysis, list[Check]]:  # fmt: skip
        a = analyse(
            answer,
            claims,
            evidence,
            patient_id,
            abstain=abstain,
            doses=self.doses,
            encoder=self.encoder,
            find_phi=self._find_phi if self._phi else None,
        )
        return a, run_guard(self._guard, answer, _NAMES, {"a": a})

    def __call__(
        self,
        answer: str,
        claims: Sequence[dict[str, Any]],
        evidence: Sequence[dict[str, Any]],
        patient_id: str | None,
        *,
        abstain: bool = False,
    ) -> dict[str, Any]:
        a, checks = self._check(answer, claims, evidence, patient_id, abstain)
        redacted = _redact(answer, a.phi_values)
        if a.phi:  # details quote sentences: none may carry the identifiers into the answer JSON or audit
            checks = [c if c["name"] == "phi" or c["passed"] else {**c, "detail": _WITHHELD} for c in checks]
        if all(c["passed"] for c in checks):
            return report(checks)
        if a.hard or not a.bad:
            return {**report(checks), "revised": redacted} if redacted != answer else report(checks)
        kept = [s.text for s in a.sentences if s.text not in a.bad]
        stripped = "\n".join(kept)
        failed = [c for c in checks if not c["passed"]]
        b, rechecked = self._check(stripped, claims, evidence, patient_id, abstain)
        if kept and b.valid_cites and all(c["passed"] for c in rechecked):
            detail = f"removed {len(a.bad)} sentence(s): " + "; ".join(
                f"{c['name']}: {c['detail']}" for c in failed
            )
            return {
                **report([*rechecked, check("unsupported_removed", True, detail[:400])]),
                "revised": stripped,
            }
        return {**report(checks), "revised": redacted} if redacted != answer else report(checks)


def _redact(text: str, values: Sequence[tuple[str, str]]) -> str:
    for entity, value in values:
        if value.strip():
            text = text.replace(value, f"<{entity}>")
    return text
