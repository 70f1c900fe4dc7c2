"""The HTTP API end to end: a real uvicorn on loopback over the real store, embedding model and agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent_world import World
from tests.service_server import LiveServer, live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Q = "Which statin and dose counts as high-intensity therapy?"


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    deps = world_deps(world, tmp_path_factory.mktemp("service"))
    with live_server(deps, api_max_body_bytes=4096, cds_max_body_bytes=65536) as live:
        yield live


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_health_readiness_and_metrics(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["store"]["chunks"] > 0
    assert "evidence mode" in ready.json()["checks"]["llm"]["detail"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'cra_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics


def test_ask_in_evidence_mode_returns_cited_answer_and_audits_it(server: LiveServer, world: World) -> None:
    key = server.key(patients=(world.patient_ids[0],))
    reply = httpx.post(f"{server.url}/v1/ask", json={"question": Q}, headers=_auth(key), timeout=60)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["mode"] == "evidence" and answer["citations"]
    assert all(c["id"] in answer["answer"] for c in answer["citations"])
    sources = [c["source"] for c in answer["citations"] if c.get("source")]
    assert sources and not any(s.startswith("/") for s in sources), sources  # no server folders
    assert answer["correlation_id"] == reply.headers["x-request-id"] != answer["answer_id"]
    record = list(server.app.state.audit.records())[-1]
    assert record["request_id"] == answer["correlation_id"] and record["answer_id"] == answer["answer_id"]
    assert record["status"] == 200
    assert {e["id"] for e in record["evidence"]} == {e["id"] for e in answer["evidence"]}
    assert all("version" in e for e in record["evidence"])
    assert len(record["question_sha256"]) == 64 and len(record["answer_sha256"]) == 64
    assert Q not in json.dumps(record)
    assert "cra_answers_total" in httpx.get(f"{server.url}/metrics").text


def test_patient_outside_the_key_scope_gets_403_and_no_data(server: LiveServer, world: World) -> None:
    mine, other = world.patient_ids[0], world.patient_ids[1]
    key = server.key(patients=(mine,))
    ok = httpx.post(f"{server.url}/v1/ask", json={"question": "latest blood pressure?", "patient_id": mine},
                    headers=_auth(key), timeout=60)  # fmt: skip
    assert ok.status_code == 200 and ok.json()["patient_id"] == mine
    denied = httpx.post(f"{server.url}/v1/ask", json={"question": "latest blood pressure?", "patient_id": other},
                        headers=_auth(key), timeout=60)  # fmt: skip
    assert denied.status_code == 403
    assert set(denied.json()) == {"error", "detail"} and other not in denied.text
    listed = httpx.get(f"{server.url}/v1/patients", headers=_auth(key)).json()["patients"]
    assert [p["patient_id"] for p in listed] == [mine]
    record = list(server.app.state.audit.records())[-2]
    assert record["status"] == 403 and record["denied"] == "patient outside key scope"
    assert "evidence" not in record


def test_threads_stream_tokens_then_the_answer_and_keep_their_patient(
    server: LiveServer, world: World
) -> None:
    patient = world.patient_ids[0]
    key = server.key(patients=(patient,))
    created = httpx.post(f"{server.url}/v1/threads", json={"patient_id": patient}, headers=_auth(key))
    assert created.status_code == 201
    tid = created.json()["thread_id"]
    with httpx.stream("POST", f"{server.url}/v1/threads/{tid}/messages", json={"question": "What is the latest HbA1c?"},
                      headers=_auth(key), timeout=60) as reply:  # fmt: skip
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        events = _sse(reply.read().decode())
    assert events[-1][0] == "answer"
    answer = events[-1][1]
    assert answer["patient_id"] == patient and answer["thread_id"] == tid
    assert all(c.get("patient_id") in (None, patient) for c in answer["citations"])
    thread = httpx.get(f"{server.url}/v1/threads/{tid}", headers=_auth(key)).json()
    assert thread["patient_id"] == patient and len(thread["messages"]) == 1
    outsider = server.key(patients=(world.patient_ids[2],))
    assert httpx.get(f"{server.url}/v1/threads/{tid}", headers=_auth(outsider)).status_code == 404
    assert httpx.post(f"{server.url}/v1/threads/{tid}/messages", json={"question": "and the LDL?"},
                      headers=_auth(outsider)).status_code == 404  # fmt: skip
    assert httpx.get(f"{server.url}/v1/threads/{'f' * 32}", headers=_auth(key)).status_code == 404


def test_openai_compatible_endpoint_with_the_openai_sdk(server: LiveServer, world: World) -> None:
    from openai import OpenAI, PermissionDeniedError

    patient = world.patient_ids[0]
    client = OpenAI(base_url=f"{server.url}/v1", api_key=server.key(patients=(patient,)), max_retries=0)
    done = client.chat.completions.create(
        model="cra", messages=[{"role": "user", "content": Q}], extra_headers={"X-Patient-ID": patient}
    )
    content = done.choices[0].message.content or ""
    extra = done.model_extra or {}
    assert "Sources:" in content and extra["citations"]
    assert all(f"[{c['id']}]" in content for c in extra["citations"])
    assert extra["cra"]["patient_id"] == patient
    stream = client.chat.completions.create(
        model="cra", messages=[{"role": "user", "content": Q}], stream=True, metadata={"patient_id": patient}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["citations"] and "Sources:" in text
    other = world.patient_ids[1]
    with pytest.raises(PermissionDeniedError, match="not allowed"):
        client.chat.completions.create(model="cra", messages=[{"role": "user", "content": Q}],
                                       metadata={"patient_id": other})  # fmt: skip


def test_feedback_is_stored_and_exported_de_identified(server: LiveServer, tmp_path: Path) -> None:
    key = server.key()
    answer = httpx.post(f"{server.url}/v1/ask", json={"question": Q}, headers=_auth(key), timeout=60).json()
    body = {"answer_id": answer["answer_id"], "rating": "down", "outcome": "modified",
            "correction": "Mrs. Jane Doe (DOB 1961-04-12) should get atorvastatin 40 mg."}  # fmt: skip
    assert httpx.post(f"{server.url}/v1/feedback", json=body, headers=_auth(key)).status_code == 201
    missing = httpx.post(
        f"{server.url}/v1/feedback", json={**body, "answer_id": "f" * 32}, headers=_auth(key)
    )
    assert missing.status_code == 404
    rows = list(server.app.state.feedback.training_rows())
    row = rows[-1]
    assert row["question"] == Q and row["rating"] == "down" and row["outcome"] == "modified"
    assert "Jane Doe" not in row["correction"] and "1961-04-12" not in row["correction"]
    assert "[NAME]" in row["correction"] and "atorvastatin 40 mg" in row["correction"]
    assert [e["id"] for e in row["evidence"]] == [e["id"] for e in answer["evidence"]]


def test_bad_input_gets_clear_4xx(server: LiveServer) -> None:
    key = server.key()
    url = f"{server.url}/v1/ask"
    cases = [
        (httpx.post(url, json={"question": Q}), 401, "API key is required"),
        (httpx.post(url, json={"question": Q}, headers=_auth("cra_nope_nope")), 401, "unknown or revoked"),
        (httpx.post(url, content=b'{"question": ', headers={**_auth(key), "Content-Type": "application/json"}),
         400, "not valid JSON"),
        (httpx.post(url, content=b"question=x", headers={**_auth(key), "Content-Type": "text/plain"}), 415,
         "application/json"),
        (httpx.post(url, json={"question": "x" * 5000}, headers=_auth(key)), 413, "over 4096 bytes"),
        (httpx.post(url, json={"question": ""}, headers=_auth(key)), 422, "question"),
        (httpx.post(url, json={"question": Q, "patient_id": "../etc"}, headers=_auth(key)), 422, "patient_id"),
        (httpx.post(url, json={"question": Q, "extra": 1}, headers=_auth(key)), 422, "extra"),
        (httpx.post(url, json={"question": Q, "as_of": "2020-13-45"}, headers=_auth(key)), 422, "YYYY-MM-DD"),
    ]  # fmt: skip
    for reply, status, reason in cases:
        assert reply.status_code == status, (status, reply.text)
        assert reason in reply.json()["detail"], reply.text
    assert "x" * 50 not in cases[4][0].text
    # CDS Hooks calls carry the prefetched record: they have their own, larger limit
    cds = f"{server.url}/cds-services/cra-care-gaps"
    record = {"hook": "patient-view", "prefetch": {"note": "x" * 20_000}}
    assert httpx.post(cds, json=record).status_code == 401  # past the body limit, stopped for its missing JWT
    record["prefetch"] = {"note": "x" * 70_000}
    too_big = httpx.post(cds, json=record)
    assert too_big.status_code == 413 and "over 65536 bytes" in too_big.json()["detail"]
    revoked = server.key()
    server.app.state.keys.revoke(revoked.split("_")[1])
    assert httpx.post(url, json={"question": Q}, headers=_auth(revoked)).status_code == 401
