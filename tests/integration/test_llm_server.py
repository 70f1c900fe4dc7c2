"""A real ``vllm serve`` process with SmolLM2-135M on loopback: models, structured output, streaming, the CLI.

The model is tiny and its text changes between server starts even at temperature 0: the tests check
the serving contract (shape, schema, streaming, lifecycle), never the words.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Literal

import psutil
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from agent.settings import AgentSettings
from service.cli import app
from service.llm_server import LLMServerError, check_port_free, default_model_dir, find_vllm, free_port
from tests.llm_fixtures import LLMEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _client(endpoint: LLMEndpoint) -> OpenAI:
    return OpenAI(base_url=endpoint.base_url, api_key="unused", timeout=120, max_retries=0)


class Claim(BaseModel):
    text: str = Field(max_length=120)
    sources: list[Literal["G1", "G2", "P1"]] = Field(max_length=2)


class Answer(BaseModel):
    answer: str = Field(max_length=300)
    claims: list[Claim] = Field(max_length=2)
    uncertainty: Literal["low", "medium", "high"]
    abstain: bool


def test_models_lists_the_served_model(vllm_server: LLMEndpoint) -> None:
    ids = [m.id for m in _client(vllm_server).models.list().data]
    assert ids == [vllm_server.model]


def test_json_schema_output_validates(vllm_server: LLMEndpoint) -> None:
    schema = Answer.model_json_schema()
    reply = _client(vllm_server).chat.completions.create(
        model=vllm_server.model,
        messages=[
            {"role": "system", "content": "Answer as JSON. Cite sources by id."},
            {
                "role": "user",
                "content": "Evidence: [G1] Start a statin when LDL is above 190 mg/dL. "
                "[P1] LDL 210 mg/dL on 2024-03-01. Question: should this patient start a statin?",
            },
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        max_tokens=400,
        temperature=0,
    )
    content = reply.choices[0].message.content
    assert content, "empty completion"
    parsed = Answer.model_validate_json(content)  # raises on anything the schema does not allow
    assert json.loads(content)["uncertainty"] == parsed.uncertainty


def test_streaming_sends_several_chunks(vllm_server: LLMEndpoint) -> None:
    stream = _client(vllm_server).chat.completions.create(
        model=vllm_server.model,
        messages=[{"role": "user", "content": "List three symptoms of heart failure."}],
        max_tokens=40,
        temperature=0,
        stream=True,
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 5
    assert "".join(pieces).strip()


def test_converted_model_keeps_weights_and_chat_template(vllm_server: LLMEndpoint) -> None:
    folder = default_model_dir(AgentSettings())
    assert (folder / "model.safetensors").stat().st_size > 200e6  # bf16, not the 100 MB Q4 GGUF
    assert "<|im_start|>" in (folder / "chat_template.jinja").read_text()
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    # A second conversion is a no-op that names the folder.
    result = CliRunner().invoke(app, ["llm", "convert"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(folder)


def _serving_processes(port: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "serve" in cmd and "--port" in cmd and str(port) in cmd:
            found.append(proc)
    return found


def _read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float) -> str:
    """Collect the process's stdout until a line holds ``marker`` (or fail with what it wrote).

    Lines are read in a thread: ``select`` on a buffered text pipe misses lines that already sit
    in Python's buffer (two lines written together arrive in one read).
    """
    assert proc.stdout is not None
    stream = proc.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in iter(stream.readline, "")], daemon=True
    ).start()
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen += line
        if marker in line:
            return seen
    stderr = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"no {marker!r} within {timeout_s} s; stdout={seen!r} stderr={stderr!r}")


def test_cli_serve_becomes_healthy_and_stops_on_sigterm() -> None:
    try:
        find_vllm(AgentSettings().llm_venv)
    except LLMServerError as exc:
        pytest.skip(f"no vLLM to serve with: {exc}")
    port = free_port()
    env = {**os.environ, "CRA_LLM_API_KEY": "", "CRA_LLM_HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "llm", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        out = _read_until(proc, "export CRA_LLM_BASE_URL=", timeout_s=400)
        assert f"export CRA_LLM_BASE_URL=http://127.0.0.1:{port}/v1" in out
        assert _serving_processes(port), "no vllm serve process behind the CLI"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - t0 < 30
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _serving_processes(port), "vllm outlived the CLI"
    check_port_free("127.0.0.1", port)
