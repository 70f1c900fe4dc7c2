"""Hand a one-shot ``cra search`` or ``cra ask`` to a ``cra serve`` of the same data, as ``ollama run`` does.

A running server already holds the model, the guards and the store (the embedded engine lets one
process open it), so a command answered there takes milliseconds instead of seconds of start-up.
``CRA_SERVER_URL`` names the server; unset, the CLI looks on loopback at ``CRA_SERVE_PORT``
(8080); ``off`` always works in process. A server is used only when its ``/readyz`` shows the
same store and the same LLM setting as this command's, so both paths give the same JSON; when
none answers, the command runs in process as before. Only the standard library is imported here:
the probe must cost less than a millisecond when no server runs.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from agent.settings import AgentSettings

__all__ = ["OFF", "Server", "ServerError", "expected_store_target", "find_server"]

log = logging.getLogger(__name__)

OFF = ("off", "none", "0", "false", "no")
_PROBE_TIMEOUT_S = 0.5


class ServerError(Exception):
    """The server answered with an error; ``status`` and its ``detail`` say which."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def expected_store_target(settings: AgentSettings) -> str:
    """What the server's ``/readyz`` shows as its store when it serves the store these settings open."""
    if settings.qdrant_url:
        return settings.qdrant_url.rstrip("/")
    return f"embedded engine at {settings.qdrant_dir}"


def _same_store(shown: str, settings: AgentSettings) -> bool:
    expected = expected_store_target(settings)
    if settings.qdrant_url:
        return shown.rstrip("/") == expected
    prefix = "embedded engine at "
    if not shown.startswith(prefix):
        return False
    return os.path.realpath(shown[len(prefix) :]) == os.path.realpath(str(settings.qdrant_dir))


def _same_llm(check: dict[str, Any], settings: AgentSettings) -> bool:
    if not settings.llm_base_url:  # the server must answer in evidence mode too (not merely lack its LLM now)
        return str(check.get("detail", "")).startswith("no LLM configured")
    return bool(check.get("model") == settings.llm_model)


@dataclass(frozen=True)
class Server:
    """A ``cra serve`` this command may use: its base URL and the API key to send."""

    url: str
    api_key: str = ""
    timeout_s: float = 120.0

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float
    ) -> tuple[int, Any]:
        parts = urlsplit(self.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request(method, parts.path.rstrip("/") + path, body=payload, headers=headers)
            reply = conn.getresponse()
            raw = reply.read()
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return reply.status, data

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON; the reply's JSON, or :class:`ServerError` with the server's ``detail``."""
        status, data = self._request("POST", path, body, self.timeout_s)
        if status != 200:
            detail = data.get("detail") if isinstance(data, dict) else None
            raise ServerError(status, str(detail or f"the server answered {status}"))
        return data

    def search(self, query: str, *, k: int, filters: list[str], mode: str) -> dict[str, Any]:
        """``cra search --json``'s object for one query."""
        reply: dict[str, Any] = self.post(
            "/v1/search", {"query": query, "k": k, "filters": filters, "mode": mode}
        )
        return reply

    def ask(
        self, question: str, *, patient_id: str | None, thread_id: str | None, as_of: str | None
    ) -> dict[str, Any]:
        """``cra ask --json``'s answer (with the server's ``answer_id`` for feedback)."""
        body = {"question": question, "patient_id": patient_id, "thread_id": thread_id, "as_of": as_of}
        reply: dict[str, Any] = self.post("/v1/ask", {k: v for k, v in body.items() if v is not None})
        return reply


def _configured() -> tuple[str, bool]:
    """(URL, named explicitly): ``CRA_SERVER_URL``, else loopback at ``CRA_SERVE_PORT``; ``("", _)`` when off."""
    named = os.environ.get("CRA_SERVER_URL", "").strip()
    if named.lower() in OFF:
        return "", True
    if named:
        return named.rstrip("/"), True
    port = os.environ.get("CRA_SERVE_PORT", "").strip() or "8080"
    return f"http://127.0.0.1:{port}", False


def find_server(settings: AgentSettings) -> Server | None:
    """The ``cra serve`` to hand this command to, or ``None`` to work in process.

    Only a server that shows the same store and LLM setting as ``settings`` qualifies; one that
    does not answer, or answers for other data, is passed over (named ones with a warning).
    """
    url, named = _configured()
    if not url:
        return None
    server = Server(url, api_key=os.environ.get("CRA_SERVER_API_KEY", "").strip())
    try:
        status, ready = server._request("GET", "/readyz", None, _PROBE_TIMEOUT_S)
    except (OSError, http.client.HTTPException) as exc:
        if named:
            log.warning("CRA_SERVER_URL %s does not answer (%s); working in process", url, type(exc).__name__)
        return None
    checks = ready.get("checks", {}) if isinstance(ready, dict) else {}
    store, llm = checks.get("store", {}), checks.get("llm", {})
    if status not in (200, 503) or not isinstance(store, dict) or not isinstance(llm, dict):
        if named:
            log.warning("%s is not a cra serve (readyz answered %s); working in process", url, status)
        return None
    if not _same_store(str(store.get("target", "")), settings) or not _same_llm(llm, settings):
        (log.warning if named else log.info)(
            "the cra serve at %s serves other data or another LLM setting; working in process", url
        )
        return None
    log.info("handing the command to the cra serve at %s", url)
    return server
