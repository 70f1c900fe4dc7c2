"""The evidence guard: retrieved guideline passages and notes are data; instructions inside them are cut out.

Each item's text runs through a guardrails-ai validator whose fix removes every sentence that reads
like an instruction to the model (overrides, role-play, tool or URL calls). The item keeps its id and
provenance, is marked ``flagged``, and the LLM (or the evidence answer) only ever sees the cleaned text.
"""

from __future__ import annotations

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

from agent.guards import Check, check  # noqa: E402
from agent.safety.guard_run import make_guard  # noqa: E402
from agent.safety.patterns import DATA_INSTRUCTION, normalize  # noqa: E402
from agent.text import sentences  # noqa: E402

__all__ = ["REMOVED", "DataInstructions", "SafetyEvidenceGuard", "neutralize"]

REMOVED = "[text removed: it addressed the reader as instructions]"


def neutralize(text: str) -> tuple[str, int]:
    """``text`` without its instruction-like sentences (line structure kept), and how many were removed."""
    lines, removed = [], 0
    for line in text.splitlines():
        kept: list[str] = []
        for part in sentences(line) or [line]:
            if DATA_INSTRUCTION.search(normalize(part)):
                removed += 1
                if not kept or kept[-1] != REMOVED:
                    kept.append(REMOVED)
            else:
                kept.append(part)
        lines.append(" ".join(kept))
    return ("\n".join(lines) if removed else text), removed


@register_validator(name="cra/data_instructions", data_type="string")
class DataInstructions(Validator):
    """Fails retrieved text that carries instructions; the fix value is the neutralized text."""

    def validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text = str(value)
        if not DATA_INSTRUCTION.search(normalize(text)):
            return PassResult()
        cleaned, removed = neutralize(text)
        return FailResult(error_message=f"{removed} instruction-like sentence(s)", fix_value=cleaned)


class SafetyEvidenceGuard:
    """Flags and neutralizes instructions in retrieved items before anything reads them."""

    def __init__(self) -> None:
        self._guard = make_guard([DataInstructions(on_fail="fix")])

    def __call__(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check]]:
        out, flagged = [], []
        for item in items:
            text = str(item.get("text", ""))
            if not DATA_INSTRUCTION.search(normalize(text)):  # the common case skips the Guard's overhead
                out.append(item)
                continue
            outcome = self._guard.validate(text)
            cleaned = str(outcome.validated_output if outcome.validated_output is not None else REMOVED)
            out.append({**item, "text": cleaned, "flagged": "instructions removed"})
            flagged.append(item["id"])
        detail = f"instructions neutralized in {', '.join(flagged)}" if flagged else ""
        return out, [check("evidence_instructions", True, detail)]
