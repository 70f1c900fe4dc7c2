"""PHI-bearing requests end to end, then every log line and audit file is scanned for that PHI."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retrieval.types import Equals, Filter
from service.logs import JsonFormatter, configure_logging
from tests.agent_world import World
from tests.service_server import live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME, DOB, MRN, PHONE = "Abigail Testperson", "1961-04-12", "88812345", "555-867-5309"
PLAIN = "What were the most recent blood pressure readings and lab results?"
QUESTION = f"Mrs. {NAME} (DOB {DOB}, MRN {MRN}, phone {PHONE}): is her LDL at target for a statin?"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The service's JSON logging, as ``cra serve`` sets it up, also written to a file."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging()
    path = tmp_path / "service.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    try:
        yield path
    finally:
        handler.close()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").disabled = False


def test_no_phi_in_logs_or_audit(world: World, tmp_path: Path, log_file: Path) -> None:
    patient, other = world.patient_ids[0], world.patient_ids[1]
    record = next(p for _, p in world.store.scroll("patients", Filter(must=(Equals("resource_type", "Patient"),
                  Equals("patient_id", patient))), fields=["birth_date"]))  # fmt: skip
    data_dir = tmp_path / "service"
    with live_server(world_deps(world, data_dir), api_max_body_bytes=4096) as server:
        key = {"Authorization": f"Bearer {server.key(patients=(patient,))}"}
        url = server.url
        # The record's own data comes back in this answer: it is PHI too.
        answer = httpx.post(f"{url}/v1/ask", json={"question": PLAIN, "patient_id": patient},
                            headers=key, timeout=60).json()  # fmt: skip
        # Identifiers in the question (the input guard may refuse it; either way nothing may leak).
        named = httpx.post(
            f"{url}/v1/ask", json={"question": QUESTION, "patient_id": patient}, headers=key, timeout=60
        )
        tid = httpx.post(f"{url}/v1/threads", json={"patient_id": patient}, headers=key).json()["thread_id"]
        streamed = httpx.post(
            f"{url}/v1/threads/{tid}/messages", json={"question": QUESTION}, headers=key, timeout=60
        )
        chat = httpx.post(f"{url}/v1/chat/completions", headers={**key, "X-Patient-ID": patient}, timeout=60,
                          json={"messages": [{"role": "user", "content": QUESTION}], "stream": True})  # fmt: skip
        refused = [
            httpx.post(f"{url}/v1/ask", json={"question": QUESTION, "patient_id": other}, headers=key),
            httpx.post(f"{url}/v1/ask", content=f'{{"question": "{QUESTION}"'.encode(),
                       headers={**key, "Content-Type": "application/json"}),
            httpx.post(f"{url}/v1/ask", json={"question": QUESTION * 40}, headers=key),
            httpx.post(f"{url}/v1/ask", json={"question": QUESTION, "patient_id": f"{NAME}"}, headers=key),
            httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {MRN}"}),
        ]  # fmt: skip
        feedback = httpx.post(f"{url}/v1/feedback", headers=key, json={"answer_id": answer["answer_id"],
                              "rating": "down", "correction": f"{NAME} was born {DOB}"})  # fmt: skip
    assert answer["mode"] == "evidence" and answer["citations"], answer["guard"]
    assert named.status_code == streamed.status_code == chat.status_code == 200
    assert [r.status_code for r in refused] == [403, 400, 413, 422, 401]
    assert feedback.status_code == 201

    logs = log_file.read_text()
    audit_files = [data_dir / "audit.sqlite", data_dir / "audit.head"]
    audit = "".join(f.read_bytes().decode("utf-8", "replace") for f in audit_files if f.exists())
    wal = data_dir / "audit.sqlite-wal"
    audit += wal.read_bytes().decode("utf-8", "replace") if wal.exists() else ""
    assert logs.count('"route": "/v1/ask"') >= 6, "the requests were not logged at all"
    assert audit.count("api_request") >= 10, "the requests were not audited"
    answer_text = answer["answer"][:60]
    phi = [NAME, "Testperson", DOB, MRN, PHONE, str(record["birth_date"])[:10], answer_text, QUESTION[:30]]
    for item in phi:
        assert item not in logs, f"PHI in the log: {item!r}"
        assert item not in audit, f"PHI in the audit trail: {item!r}"
    assert patient not in logs and other not in logs  # ids belong in the audit trail only
