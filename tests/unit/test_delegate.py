"""Which ``cra serve`` a one-shot command hands its work to (``service.delegate.find_server``).

A small loopback HTTP server stands in for ``cra serve``'s ``/readyz`` here; the real server,
and the JSON it returns against the in-process answer, are in tests/integration/test_cli_server.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.settings import AgentSettings
from service.delegate import find_server


class _Ready(BaseHTTPRequestHandler):
    body: Any = None
    status = 200

    def do_GET(self) -> None:
        raw = json.dumps(self.body).encode() if self.body is not None else b"<html>not cra</html>"
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[int, type[_Ready]]]:
    handler = type("Handler", (_Ready,), {})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def _readyz(target: str, llm: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "ready": True,
        "warm": True,
        "checks": {
            "store": {"ok": True, "target": target, "chunks": 3},
            "llm": llm or {"ok": True, "detail": "no LLM configured: answers in evidence mode"},
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_of_the_same_data_dir_is_found_on_loopback(
    stand_in: tuple[int, type[_Ready]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = stand_in
    settings = AgentSettings(data_dir=tmp_path / "data", llm_base_url="")
    handler.body = _readyz(f"embedded engine at {tmp_path / 'data' / 'qdrant'}")
    monkeypatch.delenv("CRA_SERVER_URL", raising=False)
    monkeypatch.setenv("CRA_SERVE_PORT", str(port))
    found = find_server(settings)
    assert found is not None and found.url == f"http://127.0.0.1:{port}"
    # the same folder named another way (a relative path from here) is the same store
    monkeypatch.chdir(tmp_path)
    assert find_server(AgentSettings(data_dir=Path("data"), llm_base_url="")) is not None


@pytest.mark.parametrize(
    ("body", "settings_llm"),
    [
        ("other data", ""),  # a server of another data dir
        ("llm", ""),  # it reasons with an LLM, this command is in evidence mode
        ("same", "http://127.0.0.1:9/v1"),  # this command names an LLM, the server has none
        ("not cra", ""),  # something else listens there
    ],
)
def test_a_server_that_would_answer_differently_is_passed_over(
    stand_in: tuple[int, type[_Ready]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    settings_llm: str,
) -> None:
    port, handler = stand_in
    mine = f"embedded engine at {tmp_path / 'data' / 'qdrant'}"
    handler.body = {
        "other data": _readyz(f"embedded engine at {tmp_path / 'elsewhere' / 'qdrant'}"),
        "llm": _readyz(mine, {"ok": True, "model": "smollm2", "served": ["smollm2"]}),
        "same": _readyz(mine),
        "not cra": None,
    }[body]
    monkeypatch.setenv("CRA_SERVER_URL", f"http://127.0.0.1:{port}")
    assert find_server(AgentSettings(data_dir=tmp_path / "data", llm_base_url=settings_llm)) is None


def test_no_server_or_off_means_in_process(
    stand_in: tuple[int, type[_Ready]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = stand_in
    handler.body = _readyz(f"embedded engine at {tmp_path / 'data' / 'qdrant'}")
    settings = AgentSettings(data_dir=tmp_path / "data", llm_base_url="")
    monkeypatch.setenv("CRA_SERVE_PORT", str(port))
    monkeypatch.setenv("CRA_SERVER_URL", "off")  # a server of this very data runs, and still
    assert find_server(settings) is None
    monkeypatch.setenv("CRA_SERVER_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    assert find_server(settings) is None
    monkeypatch.delenv("CRA_SERVER_URL")
    monkeypatch.setenv("CRA_SERVE_PORT", str(_free_port()))
    assert find_server(settings) is None
