"""The end of ``make demo``: ask the agent realistic questions about a demo patient, with citations.

It starts the local vLLM (SmolLM2-135M, which proves the serving path, not medical reasoning) when
``make llm-install`` has built it, and otherwise answers in evidence mode and says so. Run as
``python -m service.demo --data-dir .cra``.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from agent.settings import AgentSettings
from retrieval.patients import SUMMARY_TYPES
from retrieval.types import AnyOf, Filter
from service.deps import Deps

__all__ = ["main"]

console = Console(soft_wrap=True, highlight=False)
QUESTIONS = (
    "Are there early-warning signs in this patient's record I should act on, and what do the guidelines advise?",
    "Is a statin indicated given the latest LDL cholesterol, and at what intensity?",
    "And how has kidney function changed?",  # a follow-up in the same thread
)


def _pick_patient(deps: Deps) -> str:
    """The demo patient with the most early-warning flags (the most to talk about)."""
    from patient_index.summary import build_summary

    ids = sorted(
        {
            p["patient_id"]
            for _, p in deps.store.scroll(deps.settings.patient_collection, None, fields=["patient_id"])
        }
    )
    if not ids:
        raise SystemExit("no patients indexed: run the patient steps of make demo first")
    where = Filter(must=(AnyOf("resource_type", SUMMARY_TYPES),))

    def flags(pid: str) -> int:
        return len(build_summary(list(deps.patient_search.events(pid, where)))["flags"])

    return max(ids, key=lambda pid: (flags(pid), pid))


def _start_llm(settings: AgentSettings, stack: ExitStack) -> AgentSettings:
    """Settings pointing at a freshly started local vLLM, or the same settings when none can start."""
    from service.llm_server import LLMServerError, VllmServer, find_vllm, free_port, resolve_model

    try:
        install = find_vllm(settings.llm_venv)
        local = settings.model_copy(update={"llm_port": free_port()})
        model_dir = resolve_model(local, install)
        console.print("[dim]starting the local vLLM with SmolLM2-135M (about 40 s) ...[/]")
        server = stack.enter_context(
            VllmServer(local, install, model_dir, settings.data_dir / "vllm-demo.log")
        )
    except LLMServerError as exc:
        console.print(f"[yellow]No local LLM ({exc}); answering in evidence mode.[/]")
        return settings
    return settings.model_copy(update={"llm_base_url": server.base_url, "llm_tokenizer": str(model_dir)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".cra"))
    parser.add_argument("--no-llm", action="store_true", help="Evidence mode only.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from service.agent_cli import print_answer

    settings = AgentSettings(data_dir=args.data_dir)
    with ExitStack() as stack:
        if not args.no_llm and not settings.llm_base_url:
            settings = _start_llm(settings, stack)
        deps = Deps(settings)
        stack.callback(deps.close)
        patient = _pick_patient(deps)
        mode = (
            f"LLM {settings.llm_model} at {settings.llm_base_url}"
            if settings.llm_base_url
            else "evidence mode"
        )
        console.print(f"[bold]Patient {patient}[/] · {mode}")
        thread = None
        for question in QUESTIONS:
            console.rule(question)
            answer = deps.agent.ask(question, patient_id=patient, thread_id=thread)
            thread = answer["thread_id"]
            print_answer(answer)


if __name__ == "__main__":
    main()
