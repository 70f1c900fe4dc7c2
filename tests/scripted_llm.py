"""A scripted OpenAI-compatible chat server on loopback, for the LLM faults no real model shows on cue.

It speaks the real wire protocol (HTTP, JSON, server-sent events), so the agent's real client is
exercised; each request takes the next scripted reply. Replies: ``("json", text)`` streams ``text``
as the content, ``("sleep", seconds)`` answers too late, ``("status", code)`` fails with that code,
``("no_guided", None)`` rejects the request the way a server without JSON-schema output does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["UNGUIDED", "ScriptedLLM", "scripted_llm"]

# What a server without structured output says when asked for it.
UNGUIDED = "response_format json_schema is not supported by this server"


class ScriptedLLM:
    """The script, and every request body received, in order."""

    def __init__(self, replies: list[tuple[str, Any]]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""

    def next_reply(self) -> tuple[str, Any]:
        return self.replies.pop(0) if self.replies else ("status", 500)


def _handler(script: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            script.requests.append(body)
            kind, value = script.next_reply()
            if kind == "sleep":
                time.sleep(float(value))
                kind, value = "json", "{}"
            if kind in ("status", "no_guided"):
                code, message = (int(value), "scripted failure") if kind == "status" else (400, UNGUIDED)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"error": {"message": message}}).encode())
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            text = str(value)
            for i in range(0, len(text), 7):
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "delta": {"content": text[i : i + 7]}, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@contextmanager
def scripted_llm(replies: list[tuple[str, Any]]) -> Iterator[ScriptedLLM]:
    """Serve the script on a free loopback port; ``base_url`` ends in ``/v1``."""
    script = ScriptedLLM(replies)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a client that timed out hung up
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
