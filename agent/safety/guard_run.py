"""Running a guardrails-ai ``Guard`` offline and turning its validation summaries into report checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.safety.offline import prepare_offline

prepare_offline()

from guardrails import Guard  # noqa: E402

from agent.guards import Check, check  # noqa: E402

__all__ = ["make_guard", "run_guard"]


def make_guard(validators: Sequence[Any]) -> Guard:
    """A ``Guard`` of ``validators`` (each with ``on_fail="noop"`` so every result is reported)."""
    guard = Guard().use(*validators)
    guard.configure(allow_metrics_collection=False)
    return guard


def run_guard(guard: Guard, text: str, names: dict[str, str], metadata: dict[str, Any]) -> list[Check]:
    """One check per validator, named by ``names`` (validator class name -> check name)."""
    outcome = guard.validate(text, metadata=metadata)
    failed = {s.validator_name: s.failure_reason or "" for s in outcome.validation_summaries or []}
    return [check(name, cls not in failed, failed.get(cls, "")) for cls, name in names.items()]
