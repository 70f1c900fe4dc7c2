"""``cra search`` and ``cra ask`` hand their work to a running ``cra serve`` of the same data dir.

A real ``cra serve`` process (evidence mode, auth off on loopback) holds the embedded store; the
CLI, found nothing to configure, finds it on loopback and returns the JSON it would have computed
itself: after the server stops, the same commands run in process and must print the same objects
(answers differ only in their fresh ids and timings). A CLI over another data dir, or with the
server off, works in process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_cli import GUIDE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "What is the febuxostat start dose for gout?"
VOLATILE = ("thread_id", "timings_ms", "answer_id", "correlation_id")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRA_")}
    return {**env, "HF_HUB_OFFLINE": "1", "CRA_LLM_BASE_URL": "", "CRA_SERVE_PORT": str(port), **extra}


def cra(data: Path, port: int, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "-v", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(port, **extra),
    )


def _index(root: Path, name: str, port: int) -> Path:
    docs = root / f"{name}-docs"
    docs.mkdir()
    (docs / "gout.md").write_text(GUIDE)
    data = root / name
    run = cra(data, port, "index", "guidelines", str(docs), "--json", CRA_SERVER_URL="off")
    assert run.returncode == 0, run.stderr
    return data


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, subprocess.Popen[str]]]:
    root = tmp_path_factory.mktemp("served")
    port = _free_port()
    data = _index(root, "data", port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--data-dir", str(data), "serve"],
        env=_env(port, CRA_API_AUTH="off"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "cra serve did not become ready"
        time.sleep(1)
    yield data, port, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


def _json(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _stable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in VOLATILE}


def test_the_cli_uses_the_running_server_and_prints_what_it_would_compute_itself(
    served: tuple[Path, int, subprocess.Popen[str]], tmp_path: Path
) -> None:
    data, port, proc = served
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"id": "a", "q": "colchicine flare"}\n{"id": "b", "q": "allopurinol start dose"}\n')
    search = cra(data, port, "search", "febuxostat dose", "-k", "2", "--json")
    ask = cra(data, port, "ask", QUESTION, "--json")
    batch = cra(data, port, "search", "--queries", str(queries), "-k", "2")
    for run in (search, ask, batch):
        assert "handing the command to the cra serve" in run.stderr, run.stderr
    via_server = _json(search), _json(ask), batch.stdout
    assert via_server[0]["hits"][0]["doc_id"] == "demo_gout"
    bad = cra(data, port, "search", "gout", "--filter", "colour=red")
    assert bad.returncode == 2 and "Unknown filter field" in bad.stderr and "Traceback" not in bad.stderr

    # another data dir on the same machine: the server is not its store, so it works in process
    other = _index(tmp_path, "other", port)
    mine = cra(other, port, "search", "febuxostat dose", "-k", "2", "--json")
    assert "handing" not in mine.stderr and _json(mine)["hits"][0]["doc_id"] == "demo_gout"

    proc.terminate()
    proc.wait(timeout=60)
    search = cra(data, port, "search", "febuxostat dose", "-k", "2", "--json")
    ask = cra(data, port, "ask", QUESTION, "--json")
    batch = cra(data, port, "search", "--queries", str(queries), "-k", "2")
    for run in (search, ask, batch):
        assert "handing" not in run.stderr  # no server answers: in process, as before
    in_process = _json(search), _json(ask), batch.stdout
    assert via_server[0] == in_process[0]
    assert via_server[2] == in_process[2] and len(in_process[2].splitlines()) == 2
    assert _stable(via_server[1]) == _stable(in_process[1])
    assert via_server[1]["mode"] == "evidence" and via_server[1]["citations"]


def test_a_named_server_that_does_not_answer_falls_back_with_a_warning(tmp_path: Path) -> None:
    port = _free_port()
    data = _index(tmp_path, "data", port)
    run = cra(
        data,
        port,
        "search",
        "febuxostat dose",
        "-k",
        "1",
        "--json",
        CRA_SERVER_URL=f"http://127.0.0.1:{port}",
    )
    assert _json(run)["hits"][0]["doc_id"] == "demo_gout"
    assert "does not answer" in run.stderr and "working in process" in run.stderr
