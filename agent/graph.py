"""The agent's graph: wiring only (the nodes live in agent.nodes, the routing rules below)."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from agent import nodes
from agent.context import AgentContext
from agent.state import AgentInput, AgentState

__all__ = ["build_graph"]


def after_input(state: AgentState) -> Literal["plan", "finish"]:
    return "finish" if state.get("mode") == "refused" else "plan"


def after_llm(state: AgentState) -> Literal["guard_output", "repair", "fallback"]:
    """A parsed draft is checked; unparsable output is repaired once; an unreachable LLM falls back."""
    if state.get("draft") is not None:
        return "guard_output"
    if state.get("raw") and state.get("attempts", 0) < 1:
        return "repair"
    return "fallback"


def after_guard(state: AgentState) -> Literal["finish", "repair", "fallback"]:
    """A failed LLM draft is repaired once, then replaced by the evidence answer; any other result ends."""
    if state["guard"]["passed"] or (state.get("draft") or {}).get("source") != "llm":
        return "finish"
    return "repair" if state.get("attempts", 0) < 1 else "fallback"


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled graph; ``checkpointer`` persists threads (SQLite or Postgres saver)."""
    g = StateGraph(AgentState, context_schema=AgentContext, input_schema=AgentInput)
    g.add_node("guard_input", nodes.guard_input)
    g.add_node("plan", nodes.plan)
    g.add_node("retrieve_guidelines", nodes.retrieve_guidelines)
    g.add_node("retrieve_patient", nodes.retrieve_patient)
    g.add_node("build_evidence", nodes.build_evidence)
    g.add_node("reason", nodes.reason)
    g.add_node("repair", nodes.repair)
    g.add_node("fallback", nodes.fallback)
    g.add_node("guard_output", nodes.guard_output)
    g.add_node("finish", nodes.finish)

    g.add_edge(START, "guard_input")
    g.add_conditional_edges("guard_input", after_input)
    g.add_edge("plan", "retrieve_guidelines")
    g.add_edge("plan", "retrieve_patient")
    g.add_edge(["retrieve_guidelines", "retrieve_patient"], "build_evidence")
    g.add_edge("build_evidence", "reason")
    g.add_conditional_edges("reason", after_llm)
    g.add_conditional_edges("repair", after_llm)
    g.add_edge("fallback", "guard_output")
    g.add_conditional_edges("guard_output", after_guard)
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)
