"""The graph's nodes: small functions of the state that return only the keys they change."""

from agent.nodes.answer import fallback, finish, guard_output, reason, repair
from agent.nodes.retrieval import build_evidence, guard_input, plan, retrieve_guidelines, retrieve_patient

__all__ = [
    "build_evidence",
    "fallback",
    "finish",
    "guard_input",
    "guard_output",
    "plan",
    "reason",
    "repair",
    "retrieve_guidelines",
    "retrieve_patient",
]
