"""``cra ask`` (one question or a JSONL batch) and ``cra chat`` (an interactive, streaming chat)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import _deps, app, err, fail, out, server_errors, server_for, user_errors

__all__ = ["ask", "chat"]


def _citation_line(c: dict[str, Any]) -> str:
    if c["kind"] == "guideline":
        where = " › ".join([c.get("title", ""), *c.get("section_path", [])][:3])
        tags = ", ".join(
            x for x in (c.get("issuer") or c.get("source"), c.get("published"), c.get("grade")) if x
        )
        return f"[{c['id']}] {where} ({tags}) doc {c.get('doc_id', '')}"
    return f"[{c['id']}] {c.get('resource_type', '')} {c.get('resource_id', '')} {c.get('date', '')}: {c['text'][:90]}"


def print_answer(answer: dict[str, Any], *, body: bool = True) -> None:
    """An answer for a person: the Markdown, its citations, then mode, guard and timing."""
    if body:
        from rich.markdown import Markdown  # markdown-it: only when an answer is printed

        out.print(
            Markdown(answer["answer"]) if out.is_terminal else answer["answer"], highlight=False, markup=False
        )
    if answer["citations"]:
        out.print("[bold]Citations[/]")
        for c in answer["citations"]:
            out.print("  " + _citation_line(c), highlight=False, markup=False)
    failed = [c["name"] for c in answer["guard"]["checks"] if not c["passed"]]
    guard = ("passed" if answer["guard"]["passed"] else "failed") + (
        f" ({', '.join(failed)})" if failed else ""
    )
    out.print(
        f"[dim]mode {answer['mode']} · model {answer['model']} · guard {guard} · "
        f"{answer['timings_ms'].get('total', 0):.0f} ms · thread {answer.get('thread_id')}[/]",
        highlight=False,
    )


def _batch(ctx: typer.Context, path: Path) -> None:
    """One answer JSON per input line, in order; a bad line yields an ``error`` object, not a stop."""
    if not path.is_file():
        raise fail(f"--questions {path}: no such file")
    deps = _deps(ctx)
    server = server_for(deps)

    def ask_one(question: str, patient_id: str | None) -> dict[str, Any]:
        if server is not None:
            return server.ask(question, patient_id=patient_id, thread_id=None, as_of=None)
        answer: dict[str, Any] = deps.agent.ask(question, patient_id=patient_id)
        return answer

    bad = 0
    answering = server_errors(server.url) if server is not None else contextlib.nullcontext()
    with answering, path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("q"), str):
                    raise ValueError('expected an object with a string "q"')
                answer = ask_one(item["q"], patient_id=item.get("patient") or None)
                row = {"id": item.get("id", n), **answer}
            except (ValueError, json.JSONDecodeError) as exc:
                bad += 1
                row = {"id": n, "error": f"line {n}: {exc}"}
            sys.stdout.write(json.dumps(row) + "\n")
            sys.stdout.flush()
    if bad:
        err.print(f"{bad} line(s) of {path} could not be read; see their error objects")
        raise typer.Exit(1)


@app.command("ask")
def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The clinical question.")] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="FHIR Patient id the question is about.")
    ] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this thread (see the answer).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge the record as of this day (YYYY-MM-DD).")
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help='JSONL file of {"id", "q", "patient"?}; one answer per line.'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer JSON.")] = False,
) -> None:
    """Answer a clinical question from the guidelines and (optionally) one patient's record, with citations."""
    with user_errors():
        if questions is not None:
            if question:
                raise fail("give either a QUESTION or --questions FILE, not both")
            _batch(ctx, questions)
            return
        if not question or not question.strip():
            raise fail('give a QUESTION, e.g. cra ask "statin intensity for LDL 190?" --patient ID')
        server = server_for(_deps(ctx))
        if server is not None:  # a running cra serve of this data answers without loading anything here
            with server_errors(server.url):
                answer = server.ask(question, patient_id=patient, thread_id=thread, as_of=as_of)
        else:
            answer = _deps(ctx).agent.ask(question, patient_id=patient, thread_id=thread, as_of=as_of)
    if as_json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    else:
        print_answer(answer)
    if answer["mode"] == "refused":
        raise typer.Exit(3)


_CHAT_HELP = "Commands: /patient ID (switch patient, new thread), /new (new thread), /quit."


@app.command("chat")
def chat(
    ctx: typer.Context,
    patient: Annotated[
        str | None, typer.Option("--patient", help="FHIR Patient id the chat is about.")
    ] = None,
) -> None:
    """An interactive chat: answers stream as they are written, citations follow each answer."""
    import uuid

    deps = _deps(ctx)
    with user_errors():
        agent = deps.agent
    mode = (
        "LLM " + deps.settings.llm_model
        if deps.settings.llm_base_url
        else "evidence mode (no LLM configured)"
    )
    out.print(f"[bold]cra chat[/] · {mode} · patient {patient or 'none'}. {_CHAT_HELP}", highlight=False)
    thread = uuid.uuid4().hex
    while True:
        try:
            line = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/new" or line.startswith("/patient"):
            patient = line.split(maxsplit=1)[1].strip() if line.startswith("/patient ") else patient
            thread = uuid.uuid4().hex
            out.print(f"[dim]new thread, patient {patient or 'none'}[/]")
            continue
        if line.startswith("/"):
            out.print(_CHAT_HELP)
            continue
        streamed: list[str] = []
        with user_errors():
            for event in agent.stream(line, patient_id=patient, thread_id=thread):
                if event["type"] == "token":
                    streamed.append(event["text"])
                    out.print(event["text"], end="", highlight=False, markup=False)
                    continue
                answer = event["answer"]
                same = "".join(streamed).strip() == answer["answer"].strip()
                if streamed:
                    out.print()
                    if not same:
                        out.print("[yellow]The checks replaced the streamed draft with:[/]")
                print_answer(answer, body=not (streamed and same))
