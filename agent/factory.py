"""Building an agent from settings and the retrieval objects the caller already holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.context import AgentContext
from agent.guards import (
    BasicInputGuard,
    BasicOutputGuard,
    EvidenceGuard,
    InputGuard,
    OutputGuard,
    pass_evidence,
)
from agent.llm import LLM, make_llm
from agent.patients import StorePatientSource
from agent.runner import Agent
from agent.settings import AgentSettings
from agent.tokens import token_counter
from retrieval.embedders import DenseEncoder
from retrieval.guidelines import GuidelineSearch
from retrieval.patients import PatientSearch

__all__ = ["make_agent"]


def make_agent(
    settings: AgentSettings,
    *,
    guidelines: GuidelineSearch,
    patients: PatientSearch,
    encoder: DenseEncoder,
    checkpointer: Any = None,
    llm: LLM | None = None,
    input_guard: InputGuard | None = None,
    output_guard: OutputGuard | None = None,
    evidence_guard: EvidenceGuard | None = None,
    basic_guards: bool = False,
) -> Agent:
    """An ``Agent`` wired to the store; the LLM comes from settings unless one is given.

    The guards default to the guardrails-ai ones of ``agent.safety`` (their dose table reads the
    indexed guideline text once); ``basic_guards=True`` keeps the agent's own floor instead, and a
    guard passed explicitly always wins.
    """
    if not basic_guards:
        from agent.safety import safety_guards

        defaults = safety_guards(
            lambda: _guideline_chunks(guidelines), encoder=encoder, trusted_issuers=settings.trusted_issuers
        )
        input_guard = input_guard or defaults["input_guard"]
        output_guard = output_guard or defaults["output_guard"]
        evidence_guard = evidence_guard or defaults["evidence_guard"]
    context = AgentContext(
        guidelines=guidelines,
        patients=StorePatientSource(patients),
        encoder=encoder,
        llm=llm if llm is not None else make_llm(settings),
        input_guard=input_guard or BasicInputGuard(),
        output_guard=output_guard or BasicOutputGuard(),
        evidence_guard=evidence_guard or pass_evidence,
        count_tokens=token_counter(settings.tokenizer_dir),
        context_tokens=settings.llm_context_tokens,
        answer_tokens=settings.llm_max_tokens,
    )
    return Agent(context, checkpointer)


def _guideline_chunks(guidelines: GuidelineSearch) -> Iterator[dict[str, Any]]:
    """Every indexed guideline chunk's text and issuer (the dose table's source: trusted issuers only)."""
    for _, payload in guidelines.store.scroll(guidelines.collection, fields=["text", "issuer"]):
        yield {"text": str(payload.get("text", "")), "issuer": str(payload.get("issuer", ""))}
