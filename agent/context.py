"""What every node is given (never builds): search, patient source, encoder, LLM, guards, limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.evidence import TokenCounter, word_estimate
from agent.evidence_mode import MIN_GUIDELINE_RELEVANCE
from agent.guards import (
    BasicInputGuard,
    BasicOutputGuard,
    EvidenceGuard,
    InputGuard,
    OutputGuard,
    pass_evidence,
)
from agent.llm import LLM
from agent.patients import PatientSource
from retrieval.embedders import DenseEncoder
from retrieval.guidelines import GuidelineSearch

__all__ = ["AgentContext"]


@dataclass
class AgentContext:
    """The dependencies of a run, passed to LangGraph as the runtime context."""

    guidelines: GuidelineSearch
    patients: PatientSource | None
    encoder: DenseEncoder
    llm: LLM | None = None
    input_guard: InputGuard = field(default_factory=BasicInputGuard)
    output_guard: OutputGuard = field(default_factory=BasicOutputGuard)
    evidence_guard: EvidenceGuard = pass_evidence
    count_tokens: TokenCounter = word_estimate
    context_tokens: int = 2048
    answer_tokens: int = 512
    guideline_k: int = 6
    patient_k: int = 4
    relevance_threshold: float = MIN_GUIDELINE_RELEVANCE

    @property
    def model_name(self) -> str:
        return self.llm.model if self.llm is not None else "none (evidence mode)"
