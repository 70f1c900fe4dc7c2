"""Threads belong to the key that made them, and one turn of a thread runs at a time.

A real uvicorn on loopback over the real store and agent (evidence mode). Each test here failed
before threads were tied to their key: another key could read, post into and rebind a thread,
claim a client-chosen id first, and two concurrent turns lost one of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.agent_world import World
from tests.service_server import LiveServer, live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    deps = world_deps(world, tmp_path_factory.mktemp("threads"))
    with live_server(deps, api_rate_per_minute=6000, api_rate_burst=200) as live:
        yield live


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _ask(server: LiveServer, key: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/ask", json=body, headers=_auth(key), timeout=120)


def test_another_key_gets_404_for_every_use_of_a_thread_and_an_admin_must_name_the_owner(
    server: LiveServer, world: World
) -> None:
    mine, other = world.patient_ids[0], world.patient_ids[1]
    owner = server.key(patients=(mine,), name="owner")
    made = httpx.post(f"{server.url}/v1/threads", json={"patient_id": mine}, headers=_auth(owner)).json()
    tid = made["thread_id"]
    first = _ask(server, owner, question="What is the latest HbA1c?", thread_id=tid)
    assert first.status_code == 200 and first.json()["thread_id"] == tid
    for intruder in (server.key(patients=(mine,), name="colleague"), server.key(role="admin", name="admin")):
        assert httpx.get(f"{server.url}/v1/threads/{tid}", headers=_auth(intruder)).status_code == 404
        posted = httpx.post(f"{server.url}/v1/threads/{tid}/messages", json={"question": "and the LDL?"},
                            headers=_auth(intruder), timeout=120)  # fmt: skip
        assert posted.status_code == 404
        # the same id through /v1/ask reaches a thread of the intruder's own, never the owner's
        rebound = _ask(server, intruder, question="latest blood pressure?", thread_id=tid, patient_id=other)
        assert rebound.status_code in (200, 403)
    mine_again = _ask(server, owner, question="and the LDL?", thread_id=tid)
    assert mine_again.status_code == 200, mine_again.text
    assert mine_again.json()["patient_id"] == mine
    thread = httpx.get(f"{server.url}/v1/threads/{tid}", headers=_auth(owner)).json()
    assert thread["patient_id"] == mine and len(thread["messages"]) == 2
    owner_id = owner.split("_")[1]
    admin = server.key(role="admin", name="auditor")
    read = httpx.get(f"{server.url}/v1/threads/{tid}", params={"owner": owner_id}, headers=_auth(admin))
    assert read.status_code == 200 and len(read.json()["messages"]) == 2
    record = list(server.app.state.audit.records())[-1]
    assert record["admin_thread_owner"] == owner_id
    clinician = server.key(patients=(mine,), name="curious")
    named = httpx.get(f"{server.url}/v1/threads/{tid}", params={"owner": owner_id}, headers=_auth(clinician))
    assert named.status_code == 403


def test_a_client_chosen_thread_id_cannot_be_claimed_first_by_another_key(
    server: LiveServer, world: World
) -> None:
    mine, other = world.patient_ids[0], world.patient_ids[1]
    squatter = server.key(role="admin", name="squatter")
    clinician = server.key(patients=(mine,), name="ward5")
    taken = _ask(
        server, squatter, question="latest blood pressure?", thread_id="ward5-handover", patient_id=other
    )
    assert taken.status_code == 200
    answer = _ask(
        server, clinician, question="latest blood pressure?", thread_id="ward5-handover", patient_id=mine
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient_id"] == mine
    thread = httpx.get(f"{server.url}/v1/threads/ward5-handover", headers=_auth(clinician)).json()
    assert thread["patient_id"] == mine and len(thread["messages"]) == 1
    assert other not in json.dumps(thread)


def test_a_thread_keeps_its_patient_and_a_scoped_key_never_reads_another_patient(
    server: LiveServer, world: World
) -> None:
    mine, other = world.patient_ids[0], world.patient_ids[1]
    scoped = server.key(patients=(mine,), name="scoped")
    admin = server.key(role="admin", name="busy admin")
    tid = "shared-name"
    assert (
        _ask(server, scoped, question="What is the latest HbA1c?", thread_id=tid, patient_id=mine).status_code
        == 200
    )

    def scoped_turn(_: int) -> dict[str, Any]:
        reply = _ask(server, scoped, question="What are the active problems?", thread_id=tid)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def admin_turn(_: int) -> int:
        return _ask(
            server, admin, question="What are the active problems?", thread_id=tid, patient_id=other
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        admin_runs = [pool.submit(admin_turn, i) for i in range(3)]
        answers = list(pool.map(scoped_turn, range(3)))
    assert all(run.result() in (200, 409) for run in admin_runs)
    for answer in answers:
        assert answer["patient_id"] == mine
        assert all(c.get("patient_id") in (None, mine) for c in answer["citations"])
    rebind = _ask(server, scoped, question="latest blood pressure?", thread_id=tid, patient_id=other)
    assert rebind.status_code == 409 and "another patient" in rebind.json()["detail"]


def test_concurrent_turns_of_one_thread_run_one_after_another_and_none_is_lost(
    server: LiveServer, world: World
) -> None:
    patient = world.patient_ids[0]
    key = server.key(patients=(patient,), name="fast typist")
    tid = httpx.post(f"{server.url}/v1/threads", json={"patient_id": patient}, headers=_auth(key)).json()[
        "thread_id"
    ]
    questions = [f"What is the latest HbA1c? ({i})" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda q: _ask(server, key, question=q, thread_id=tid), questions))
    assert [r.status_code for r in replies] == [200] * 6
    thread = httpx.get(f"{server.url}/v1/threads/{tid}", headers=_auth(key)).json()
    assert sorted(m["question"] for m in thread["messages"]) == sorted(questions)


def test_answer_ids_are_the_servers_own_whatever_the_request_id(server: LiveServer) -> None:
    first, second = server.key(name="first"), server.key(name="second")
    same = {"X-Request-ID": "chosen-by-the-client-0001"}
    a = httpx.post(f"{server.url}/v1/ask", json={"question": "Which statin dose is high intensity?"},
                   headers={**_auth(first), **same}, timeout=120).json()  # fmt: skip
    b = httpx.post(f"{server.url}/v1/ask", json={"question": "Which statin dose is high intensity?"},
                   headers={**_auth(second), **same}, timeout=120).json()  # fmt: skip
    assert (
        a["answer_id"] != b["answer_id"]
        and a["correlation_id"] == b["correlation_id"] == same["X-Request-ID"]
    )
    feedback = {"answer_id": a["answer_id"], "rating": "up"}
    assert httpx.post(f"{server.url}/v1/feedback", json=feedback, headers=_auth(first)).status_code == 201
