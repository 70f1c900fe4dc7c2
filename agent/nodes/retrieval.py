"""Nodes up to the evidence: guard the input, plan, retrieve (two branches in parallel), number."""

from __future__ import annotations

from datetime import date
from typing import Any

from langgraph.runtime import Runtime

from agent.assessing import dose_checks, extra_types, input_events, run_assessments
from agent.context import AgentContext
from agent.evidence import assessment_items, input_item, number_items
from agent.facts import fact_items, hit_item, on_topic_hit
from agent.nodes.timing import timed
from agent.planner import assessments_for, make_plan, planned_question
from agent.record_answers import record_answer
from agent.retrieve import search_guidelines
from agent.sources import source_passages
from agent.state import AgentState
from agent.text import content_words, overlap
from retrieval.patients import SUMMARY_TYPES

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
    question = planned_question(state["question"], state.get("history", []))
    patient: dict[str, Any] = {"summary": None, "refs": {}, "assessments": dose_checks(question)}
    if pid and ctx.patients is not None:
        as_of, wanted = state.get("as_of"), assessments_for(question)
        day = date.fromisoformat(as_of) if as_of else None
        read = ctx.patients.context(pid, day, extra_types=extra_types(wanted, SUMMARY_TYPES))
        patient = _assessed(read, question, wanted)
    the_plan = make_plan(state["question"], history=state.get("history", []), summary=patient["summary"])
    queries = the_plan["guideline_queries"]
    vectors = [[float(x) for x in v] for v in ctx.encoder.encode(queries)]
    return {"plan": the_plan, "patient": patient, "vectors": vectors}


def _assessed(context: dict[str, Any], question: str, wanted: list[str]) -> dict[str, Any]:
    """The patient context with the question's assessments and direct record answer computed.

    The raw events are used here and dropped: the checkpointed state keeps the summary, the
    assessment records and the entries they cite, never the whole record.
    """
    events = context.pop("events", [])
    summary = context.get("summary")
    if summary is None:
        return {**context, "assessments": dose_checks(question), "inputs": {}, "record_answer": None}
    as_of = date.fromisoformat(summary["as_of"])
    records = run_assessments(events, wanted, as_of=as_of, summary=summary)
    records += dose_checks(question, events, as_of=as_of, records=records)
    direct = record_answer(question, events, as_of)
    cited = records + ([{"event_ids": direct["event_ids"]}] if direct else [])
    return {**context, "assessments": records, "inputs": input_events(events, cited), "record_answer": direct}


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
    records = state.get("patient", {}).get("assessments", [])
    return {"guideline_items": items + source_passages(ctx.guidelines, ctx.encoder, records, items)}


@timed("retrieve_patient")
def retrieve_patient(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx, p, pid = runtime.context, state["plan"], state.get("patient_id")
    summary = state.get("patient", {}).get("summary")
    if not pid or ctx.patients is None or summary is None:
        return {"patient_items": []}
    context = state["patient"]
    items = _direct_items(context, pid) + fact_items(
        summary, context["refs"], p["facets"], question=state["question"]
    )
    hits = ctx.patients.search(
        pid,
        state["question"],
        state["vectors"][0],
        k=ctx.patient_k,
        since=p["since"],
        until=p["until"],
        types=p["patient_types"],
    )
    items += [hit_item(h, h.score) for h in hits if on_topic_hit(h, state["question"])]
    seen = {e for i in items if not i.get("computed") for e in i["event_ids"]}
    inputs = context.get("inputs", {})
    items += [input_item(eid, inputs[eid]) for eid in inputs if eid not in seen]
    return {"patient_items": items}


def _direct_items(context: dict[str, Any], pid: str) -> list[dict[str, Any]]:
    """The direct record answer as the first computed fact, when the question asked for a value."""
    direct = context.get("record_answer")
    if not direct:
        return []
    inputs = context.get("inputs", {})
    known = [inputs[e] for e in direct["event_ids"] if e in inputs]
    return [
        {
            "text": direct["text"],
            "relevance": 1.0,
            "computed": True,
            "direct": direct["query"],
            "patient_id": pid,
            "resource_type": str(known[-1]["resource_type"]) if known else "Observation",
            "resource_id": str(known[-1]["resource_id"]) if known else "",
            "date": direct["date"],
            "event_ids": list(direct["event_ids"]),
        }
    ]


def _carried(state: AgentState, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier-turn items a follow-up still needs: same patient, not retrieved again, on topic."""
    if not state.get("plan", {}).get("follow_up"):
        return []
    seen = {i.get("chunk_id") or tuple(i.get("event_ids", [])) for i in fresh}
    words = content_words(" ".join(state["plan"]["guideline_queries"]))
    keep = []
    for item in state.get("prior_evidence", []):
        if item["kind"] == "assessment":  # recomputed for this turn when the question needs it
            continue
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
    records = state.get("patient", {}).get("assessments", [])
    return {"evidence": items + assessment_items(records, items), "evidence_checks": checks}
