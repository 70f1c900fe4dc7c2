"""The graph's state: what one question carries from node to node, and what a thread keeps."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

__all__ = ["AgentInput", "AgentState", "merge_timings"]


def merge_timings(old: dict[str, float] | None, new: dict[str, float] | None) -> dict[str, float]:
    """Timings add up across nodes of one question; a ``_reset`` key starts a new question."""
    new = dict(new or {})
    if new.pop("_reset", None):
        return new
    return {**(old or {}), **new}


class AgentInput(TypedDict, total=False):
    """What a caller passes in for one question."""

    question: str
    patient_id: str | None
    as_of: str | None


class AgentState(AgentInput, total=False):
    """Everything the nodes read and write; persisted per thread by the checkpointer."""

    history: list[dict[str, Any]]  # earlier turns: question, answer, mode, patient_id
    prior_evidence: list[dict[str, Any]]  # the previous turn's evidence, reused when it still applies
    input_guard: dict[str, Any]
    plan: dict[str, Any]
    vectors: list[list[float]]
    patient: dict[str, Any]  # summary + refs of the patient, when there is one
    guideline_items: list[dict[str, Any]]
    patient_items: list[dict[str, Any]]
    evidence: list[dict[str, Any]]  # numbered G#/P# items
    evidence_checks: list[dict[str, Any]]  # what the evidence guard found in retrieved text
    prompt_ids: list[str]  # the ids that fitted the LLM's context, in prompt order
    messages: list[dict[str, str]]
    raw: str
    draft: dict[str, Any] | None
    mode: str
    llm_error: str
    attempts: int
    rejected: list[str]  # names of the checks the LLM's drafts failed, for the report
    guard: dict[str, Any]
    result: dict[str, Any]
    timings_ms: Annotated[dict[str, float], merge_timings]
