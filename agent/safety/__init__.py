"""guardrails-ai guards for the agent: input, retrieved evidence and output (see README "Guardrails").

Importing a guard module prepares the offline setup first (telemetry off, no downloads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["safety_guards"]


def safety_guards(
    guideline_texts: Any = None, encoder: Any = None, trusted_issuers: Iterable[str] | None = None
) -> dict[str, Any]:
    """The three guards as ``make_agent`` keyword arguments (imports guardrails-ai: a few seconds).

    ``guideline_texts`` returns the indexed chunks the dose table is read from: texts, or payloads
    with ``text`` and ``issuer``, of which only trusted issuers' count (a local file must not widen
    a drug's documented range). ``trusted_issuers`` defaults to ``CRA_TRUSTED_ISSUERS``.
    """
    from agent.safety.evidence_guard import SafetyEvidenceGuard, configured_issuers
    from agent.safety.input_guard import SafetyInputGuard
    from agent.safety.output_guard import SafetyOutputGuard

    trusted = tuple(trusted_issuers) if trusted_issuers is not None else configured_issuers()
    texts = _trusted_texts(guideline_texts, trusted) if guideline_texts is not None else None
    output = SafetyOutputGuard(texts, encoder=encoder)
    doses = (lambda: output.doses) if texts is not None else None
    evidence = SafetyEvidenceGuard(doses, trusted_issuers=trusted)
    return {"input_guard": SafetyInputGuard(), "evidence_guard": evidence, "output_guard": output}


def _trusted_texts(
    source: Callable[[], Iterable[Any]], trusted: tuple[str, ...]
) -> Callable[[], Iterator[str]]:
    from guidelines_index.trust import is_trusted

    def texts() -> Iterator[str]:
        for chunk in source():
            if not isinstance(chunk, dict):
                yield str(chunk)
            elif is_trusted(str(chunk.get("issuer", "")), trusted):
                yield str(chunk.get("text", ""))

    return texts
