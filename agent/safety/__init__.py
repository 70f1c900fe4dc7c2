"""guardrails-ai guards for the agent: input, retrieved evidence and output (see README "Guardrails").

Importing a guard module prepares the offline setup first (telemetry off, no downloads).
"""

from __future__ import annotations

from typing import Any

__all__ = ["safety_guards"]


def safety_guards(guideline_texts: Any = None, encoder: Any = None) -> dict[str, Any]:
    """The three guards as ``make_agent`` keyword arguments (imports guardrails-ai: a few seconds)."""
    from agent.safety.evidence_guard import SafetyEvidenceGuard
    from agent.safety.input_guard import SafetyInputGuard
    from agent.safety.output_guard import SafetyOutputGuard

    return {
        "input_guard": SafetyInputGuard(),
        "evidence_guard": SafetyEvidenceGuard(),
        "output_guard": SafetyOutputGuard(guideline_texts, encoder=encoder),
    }
