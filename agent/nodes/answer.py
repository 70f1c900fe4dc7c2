"""Nodes from the evidence to the answer: reason, guard the output, repair once, fall back, finish."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.errors import LLMError, LLMOutputError
from agent.evidence import citation_json, interleave, pack, render_block
from agent.evidence_mode import evidence_answer
from agent.guards import check, report
from agent.nodes.timing import timed
from agent.prompts import SYSTEM, question_messages, repair_messages
from agent.schema import answer_schema, markers_in, parse_llm_answer
from agent.state import AgentState
from agent.streaming import AnswerStream

__all__ = ["fallback", "finish", "guard_output", "reason", "repair"]

_MAX_HISTORY = 10
_PROMPT_MARGIN = 64  # chat-template tokens around the messages


def _evidence_draft(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    topic = " ".join([state["question"], *state.get("plan", {}).get("guideline_queries", [])[1:]])
    made = evidence_answer(
        topic,
        state["evidence"],
        patient_id=state.get("patient_id"),
        threshold=ctx.relevance_threshold,
    )
    draft = {
        "answer": made["answer"],
        "claims": [],
        "uncertainty": "",
        "abstain": made["mode"] == "abstain",
        "abstain_reason": made["reason"],
        "source": "evidence",
    }
    return {"draft": draft, "mode": made["mode"]}


def _llm_call(
    state: AgentState, runtime: Runtime[AgentContext], messages: list[dict[str, str]]
) -> dict[str, Any]:
    """One LLM call; the parsed draft, or the error and raw text for repair or fallback."""
    ctx = runtime.context
    assert ctx.llm is not None
    stream = AnswerStream(lambda text: runtime.stream_writer({"token": text}))
    try:
        raw = ctx.llm.generate(messages, answer_schema(), on_token=stream.feed)
    except LLMOutputError as exc:
        return {"draft": None, "raw": exc.raw, "llm_error": str(exc), "messages": messages}
    except LLMError as exc:
        return {"draft": None, "raw": "", "llm_error": str(exc), "messages": messages}
    try:
        parsed = parse_llm_answer(raw)
    except LLMOutputError as exc:
        return {"draft": None, "raw": raw, "llm_error": str(exc), "messages": messages}
    draft = {**parsed.model_dump(), "source": "llm"}
    draft["claims"] = [dict(c) for c in draft["claims"]]
    return {
        "draft": draft,
        "raw": raw,
        "llm_error": "",
        "messages": messages,
        "mode": "abstain" if parsed.abstain else "llm",
    }


@timed("reason")
def reason(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    if ctx.llm is None:
        return _evidence_draft(state, ctx)
    history = state.get("history", [])[-2:]
    fixed = ctx.count_tokens(SYSTEM) + ctx.count_tokens(state["question"]) + _PROMPT_MARGIN
    fixed += sum(ctx.count_tokens(t["question"]) + ctx.count_tokens(t["answer"]) for t in history)
    budget = ctx.context_tokens - ctx.answer_tokens - fixed
    packed = pack(interleave(state["evidence"]), budget, ctx.count_tokens)
    messages = question_messages(state["question"], render_block(packed), history, state.get("patient_id"))
    return {**_llm_call(state, runtime, messages), "prompt_ids": [i["id"] for i in packed]}


@timed("repair")
def repair(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    problems = (
        [state["llm_error"]]
        if state.get("llm_error")
        else [
            f"{c['name']}: {c['detail']}" for c in state.get("guard", {}).get("checks", []) if not c["passed"]
        ]
    )
    messages = repair_messages(state.get("messages", []), state.get("raw", ""), problems)
    return {**_llm_call(state, runtime, messages), "attempts": state.get("attempts", 0) + 1}


@timed("fallback")
def fallback(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    return _evidence_draft(state, runtime.context)


def _checked_evidence(state: AgentState) -> list[dict[str, Any]]:
    """What the draft may cite: what the LLM was shown, or all evidence for the evidence answer."""
    evidence = state.get("evidence", [])
    draft = state.get("draft") or {}
    if draft.get("source") == "llm":
        shown = set(state.get("prompt_ids", []))
        return [e for e in evidence if e["id"] in shown]
    return evidence


@timed("guard_output")
def guard_output(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    draft = state.get("draft") or {}
    verdict = runtime.context.output_guard(
        draft.get("answer", ""),
        draft.get("claims", []),
        _checked_evidence(state),
        state.get("patient_id"),
        abstain=bool(draft.get("abstain")),
    )
    revised = verdict.pop("revised", None)  # a guard that stripped unsupported sentences or redacted PHI
    rejected = list(state.get("rejected", []))
    if not verdict["passed"] and draft.get("source") == "llm":
        rejected += [c["name"] for c in verdict["checks"] if not c["passed"]]
    update: dict[str, Any] = {"guard": verdict, "rejected": rejected}
    if revised is not None:
        update["draft"] = {**draft, "answer": revised}
    return update


def _refusal(state: AgentState) -> dict[str, Any]:
    failed = [c["detail"] or c["name"] for c in state["input_guard"]["checks"] if not c["passed"]]
    return {
        "answer": "I can't help with this request: " + "; ".join(failed) + ".",
        "mode": "refused",
        "citations": [],
        "guard": state["input_guard"],
    }


def _assessments(state: AgentState) -> list[dict[str, Any]]:
    """``Assessment.to_json()`` of each assessment in the evidence, with the ``[A#]`` that cites it."""
    return [
        {"evidence_id": e["id"], **e["json"]} for e in state.get("evidence", []) if e["kind"] == "assessment"
    ]


@timed("finish")
def finish(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    if state.get("mode") == "refused":
        result = _refusal(state)
    else:
        draft = state.get("draft") or {}
        guard = state.get("guard") or report([])
        answer, mode = draft.get("answer", ""), state.get("mode", "evidence")
        if not guard["passed"]:
            failed = ", ".join(c["name"] for c in guard["checks"] if not c["passed"])
            answer, mode = f"I cannot give an answer that passes the safety checks ({failed}).", "abstain"
        by_id = {e["id"]: e for e in state.get("evidence", [])}
        cited = markers_in(answer) + [c for cl in draft.get("claims", []) for c in cl.get("citations", [])]
        ids = list(dict.fromkeys(i for i in cited if i in by_id))
        checks = state["input_guard"]["checks"] + state.get("evidence_checks", []) + guard["checks"]
        if state.get("llm_error"):
            checks = [*checks, check("llm", False, state["llm_error"])]
        if state.get("rejected"):
            names = ", ".join(dict.fromkeys(state["rejected"]))
            checks = [
                *checks,
                check("llm_draft", False, f"the model's draft failed: {names}; it was replaced"),
            ]
        result = {
            "answer": answer,
            "mode": mode,
            "citations": [citation_json(by_id[i]) for i in ids],
            "guard": {"passed": guard["passed"], "checks": checks},
            "uncertainty": draft.get("uncertainty", ""),
            "abstain_reason": draft.get("abstain_reason", "") if mode == "abstain" else "",
        }
    result["model"] = runtime.context.model_name if result["mode"] == "llm" else "none (evidence mode)"
    result["evidence"] = [
        {
            "id": e["id"],
            "kind": e["kind"],
            "ref": e.get("chunk_id") or e.get("event_ids") or e.get("assessment_id"),
            "version": e.get("version", ""),
        }
        for e in (state.get("evidence", []) if result["mode"] != "refused" else [])
    ]
    result["patient_id"] = state.get("patient_id")
    result["assessments"] = _assessments(state) if result["mode"] != "refused" else []
    turn = {
        "question": state.get("question", ""),
        "answer": result["answer"],
        "mode": result["mode"],
        "patient_id": state.get("patient_id"),
    }
    runtime.stream_writer({"final": result["answer"]})
    return {
        "result": result,
        "history": [*state.get("history", []), turn][-_MAX_HISTORY:],
        "prior_evidence": state.get("evidence", [])
        if result["mode"] != "refused"
        else state.get("prior_evidence", []),
    }
