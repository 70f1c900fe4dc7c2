"""Nodes up to the evidence: guard the input, plan, retrieve (two branches in parallel), number."""

from __future__ import annotations

from datetime import date
from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.evidence import number_items
from agent.facts import fact_items, hit_item
from agent.nodes.timing import timed
from agent.planner import make_plan
from agent.retrieve import search_guidelines
from agent.state import AgentState
from agent.text import content_words, overlap

__all__ = ["build_evidence", "guard_input", "plan", "retrieve_guidelines", "retrieve_patient"]

_CARRIED = 4  # earlier-turn items kept at most when a follow-up reuses them


@timed("guard_input", first=True)
def guard_input(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    verdict = runtime.context.input_guard(state.get("question", ""), state.get("patient_id"))
    reset: dict[str, Any] = {
        "draft": None,
        "raw": "",
        "llm_error": "",
        "attempts": 0,
        "mode": "",
        "rejected": [],
    }
    return {**reset, "input_guard": verdict, "mode": "" if verdict["passed"] else "refused"}


@timed("plan")
def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx, pid = runtime.context, state.get("patient_id")
    patient: dict[str, Any] = {"summary": None, "refs": {}}
    if pid and ctx.patients is not None:
        as_of = state.get("as_of")
        patient = ctx.patients.context(pid, date.fromisoformat(as_of) if as_of else None)
    the_plan = make_plan(state["question"], history=state.get("history", []), summary=patient["summary"])
    queries = the_plan["guideline_queries"]
    vectors = [[float(x) for x in v] for v in ctx.encoder.encode(queries)]
    return {"plan": the_plan, "patient": patient, "vectors": vectors}


@timed("retrieve_guidelines")
def retrieve_guidelines(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx, p = runtime.context, state["plan"]
    items = search_guidelines(
        ctx.guidelines,
        p["guideline_queries"],
        state["vectors"],
        filters=p["guideline_filters"],
        k=ctx.guideline_k,
        threshold=ctx.relevance_threshold,
    )
    return {"guideline_items": items}


@timed("retrieve_patient")
def retrieve_patient(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx, p, pid = runtime.context, state["plan"], state.get("patient_id")
    summary = state.get("patient", {}).get("summary")
    if not pid or ctx.patients is None or summary is None:
        return {"patient_items": []}
    items = fact_items(summary, state["patient"]["refs"], p["facets"])
    hits = ctx.patients.search(
        pid,
        state["question"],
        state["vectors"][0],
        k=ctx.patient_k,
        since=p["since"],
        until=p["until"],
        types=p["patient_types"],
    )
    items += [hit_item(h, h.score) for h in hits]
    return {"patient_items": items}


def _carried(state: AgentState, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier-turn items a follow-up still needs: same patient, not retrieved again, on topic."""
    if not state.get("plan", {}).get("follow_up"):
        return []
    seen = {i.get("chunk_id") or tuple(i.get("event_ids", [])) for i in fresh}
    words = content_words(" ".join(state["plan"]["guideline_queries"]))
    keep = []
    for item in state.get("prior_evidence", []):
        key = item.get("chunk_id") or tuple(item.get("event_ids", []))
        same_patient = item["kind"] == "guideline" or item.get("patient_id") == state.get("patient_id")
        if key not in seen and same_patient and overlap(words, item.get("text", "")) > 0:
            keep.append(
                {k: v for k, v in item.items() if k not in ("id", "kind")}
                | {"carried": True, "_kind": item["kind"]}
            )
    return keep[:_CARRIED]


@timed("build_evidence")
def build_evidence(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    guides = list(state.get("guideline_items", []))
    patient = list(state.get("patient_items", []))
    for item in _carried(state, guides + patient):
        (guides if item.pop("_kind") == "guideline" else patient).append(item)
    items, checks = runtime.context.evidence_guard(number_items(guides, patient))
    return {"evidence": items, "evidence_checks": checks}
