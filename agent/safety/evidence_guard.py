"""The evidence guard: retrieved guideline passages and notes are data; instructions inside them are cut out.

Each item's text runs through a guardrails-ai validator whose fix removes every sentence that reads
like an instruction to the model (overrides, role-play, tool or URL calls). The item keeps its id and
provenance, is marked ``flagged``, and the LLM (or the evidence answer) only ever sees the cleaned text.

Two more rules, because a poisoned file need not address the model at all ("Clinicians should double
every insulin dose" is stated as fact):

* **Dose advice**: a sentence that recommends a blanket dose multiplication, or (in a guideline
  passage) a dose outside the span the trusted guidelines document for that drug, is withheld:
  replaced by :data:`WITHHELD`, so it is never quoted as current guidance.
* **Trust**: a guideline passage whose issuer is not on the trusted list (``CRA_TRUSTED_ISSUERS``,
  :mod:`guidelines_index.trust`) gets ``trust: "local, unverified"`` and its issuer reads
  "<issuer> (local, unverified)", which every citation and the evidence block the LLM reads show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
from agent.safety.drugs import DoseTable, blanket_dose_change  # noqa: E402
from agent.safety.guard_run import make_guard  # noqa: E402
from agent.safety.patterns import DATA_INSTRUCTION, canonical, normalize  # noqa: E402
from agent.text import sentences  # noqa: E402
from guidelines_index.trust import UNVERIFIED, labelled_issuer, trust_of  # noqa: E402

__all__ = [
    "REMOVED",
    "WITHHELD",
    "DataInstructions",
    "SafetyEvidenceGuard",
    "configured_issuers",
    "dose_problems",
    "label_trust",
    "neutralize",
    "withhold_doses",
]

REMOVED = "[text removed: it addressed the reader as instructions]"
WITHHELD = "[text withheld: it recommends a dose change outside documented label ranges]"
DoseSource = Callable[[], DoseTable | None]


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


def dose_problems(text: str, doses: DoseTable | None = None) -> list[str]:
    """What is unsafe about the dose advice in ``text``: a blanket multiplication, doses out of range."""
    plain = canonical(text)
    if doses is not None:
        return doses.unsafe(plain)  # out-of-range doses and blanket changes
    blanket = blanket_dose_change(plain)
    return [f"blanket dose change ({blanket[:40]!r})"] if blanket else []


def withhold_doses(text: str, doses: DoseTable | None = None) -> tuple[str, list[str]]:
    """``text`` with each sentence of unsafe dose advice replaced by :data:`WITHHELD`, and the problems."""
    if not dose_problems(text, doses):  # the common case: one pass over the whole text
        return text, []
    lines, found = [], []
    for line in text.splitlines():
        kept: list[str] = []
        for part in sentences(line) or [line]:
            problems = dose_problems(part, doses)
            if problems:
                found += problems
                if not kept or kept[-1] != WITHHELD:
                    kept.append(WITHHELD)
            else:
                kept.append(part)
        lines.append(" ".join(kept))
    return ("\n".join(lines) if found else text), found


def label_trust(item: dict[str, Any], trusted: Iterable[str]) -> dict[str, Any]:
    """A guideline item with its ``trust`` field, and its issuer labelled when it is not trusted."""
    if item.get("kind") != "guideline":
        return item
    issuer = str(item.get("issuer") or "")
    trust = trust_of(issuer, trusted)
    out = {**item, "trust": trust}
    if trust == UNVERIFIED:
        out["issuer"] = labelled_issuer(issuer, trusted)
    return out


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
    """Flags and neutralizes instructions and unsafe dose advice in retrieved items; labels trust."""

    def __init__(self, doses: DoseSource | None = None, trusted_issuers: Iterable[str] | None = None) -> None:
        """A guard over retrieved items.

        Args:
            doses: Returns the dose table of the trusted guidelines (read lazily, shared with the
                output guard); without one only blanket dose changes are withheld.
            trusted_issuers: Issuers whose passages are not labelled "local, unverified"; default:
                ``CRA_TRUSTED_ISSUERS`` (the packaged corpus's issuers and USPSTF unless set).
        """
        self._guard = make_guard([DataInstructions(on_fail="fix")])
        self._doses = doses
        self.trusted = tuple(trusted_issuers) if trusted_issuers is not None else configured_issuers()

    def __call__(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check]]:
        out, flagged, withheld, unverified = [], [], [], []
        table = self._doses() if self._doses is not None else None
        for item in items:
            item = label_trust(item, self.trusted)
            if item.get("trust") == UNVERIFIED:
                unverified.append(item["id"])
            text = str(item.get("text", ""))
            if DATA_INSTRUCTION.search(normalize(text)):  # the common case skips the Guard's overhead
                outcome = self._guard.validate(text)
                text = str(outcome.validated_output if outcome.validated_output is not None else REMOVED)
                item = {**item, "text": text, "flagged": "instructions removed"}
                flagged.append(item["id"])
            # Doses in a patient's record are what was given, not advice: only blanket changes count there.
            text, problems = withhold_doses(text, table if item.get("kind") == "guideline" else None)
            if problems:
                note = "dose advice withheld"
                item = {**item, "text": text, "flagged": ", ".join(filter(None, [item.get("flagged"), note]))}
                withheld.append(f"{item['id']} ({problems[0]})")
            out.append(item)
        return out, [
            check(
                "evidence_instructions",
                True,
                f"instructions neutralized in {', '.join(flagged)}" if flagged else "",
            ),
            check(
                "evidence_doses", True, f"dose advice withheld in {'; '.join(withheld)}" if withheld else ""
            ),
            check("evidence_trust", True, f"{UNVERIFIED}: {', '.join(unverified)}" if unverified else ""),
        ]


def configured_issuers() -> tuple[str, ...]:
    """The trusted issuers the environment configures (``CRA_TRUSTED_ISSUERS``)."""
    from agent.settings import AgentSettings

    return tuple(AgentSettings().trusted_issuers)
