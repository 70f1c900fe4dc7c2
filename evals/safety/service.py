"""Attacks on the HTTP service itself: thread ownership, turn races, answer ids, malformed input.

Each case drives a real ``cra serve`` app on loopback (:mod:`evals.live_server`) over the red
team's store with real API keys, and checks what came back. A case is ``blocked`` when the
service refused or contained the attack as it must; ``observed`` says what it did either way.
The integration tests run the same cases (``tests/integration/test_thread_ownership.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["SERVICE_CASES", "Probe", "ServiceCase", "run_service_cases"]

_TIMEOUT = 120


@dataclass
class Probe:
    """The live service, the key factory and two patients: ``mine`` in a clinician's scope, ``other`` not."""

    url: str
    make_key: Callable[..., str]
    mine: str
    other: str

    def key(
        self, role: str = "clinician", patients: tuple[str, ...] | None = None, name: str = "probe"
    ) -> str:
        return self.make_key(
            role=role, patients=patients if patients is not None else (self.mine,), name=name
        )

    def admin(self, name: str = "admin") -> str:
        return self.make_key(role="admin", patients=("*",), name=name)

    def ask(self, key: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/ask", json=body, headers={**_auth(key), **(headers or {})}, timeout=_TIMEOUT
        )

    def thread(self, key: str, tid: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}/v1/threads/{tid}", params=params, headers=_auth(key), timeout=_TIMEOUT)

    def new_thread(self, key: str, patient: str | None) -> str:
        made = httpx.post(f"{self.url}/v1/threads", json={"patient_id": patient}, headers=_auth(key))
        made.raise_for_status()
        return str(made.json()["thread_id"])

    def post(self, key: str, tid: str, question: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/threads/{tid}/messages", json={"question": question},
                          headers=_auth(key), timeout=_TIMEOUT)  # fmt: skip


@dataclass(frozen=True)
class ServiceCase:
    """One attack on the service: ``probe`` returns (contained?, what was observed)."""

    id: str
    category: str
    attack: str
    probe: Callable[[Probe], tuple[bool, str]]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _owned_thread(p: Probe) -> tuple[str, str]:
    owner = p.key(name="owner")
    tid = p.new_thread(owner, p.mine)
    p.ask(owner, question="What is the latest HbA1c?", thread_id=tid).raise_for_status()
    return owner, tid


def _read_by_colleague(p: Probe) -> tuple[bool, str]:
    _, tid = _owned_thread(p)
    got = p.thread(p.key(name="colleague"), tid)
    return got.status_code == 404, f"GET by another clinician key: {got.status_code}"


def _read_by_admin(p: Probe) -> tuple[bool, str]:
    _, tid = _owned_thread(p)
    got = p.thread(p.admin(), tid)
    return got.status_code == 404, f"GET by an admin key without ?owner=: {got.status_code}"


def _admin_names_owner(p: Probe) -> tuple[bool, str]:
    owner, tid = _owned_thread(p)
    owner_id = owner.split("_")[1]
    admin = p.thread(p.admin(), tid, owner=owner_id)
    clinician = p.thread(p.key(name="curious"), tid, owner=owner_id)
    ok = admin.status_code == 200 and len(admin.json()["messages"]) == 1 and clinician.status_code == 403
    return ok, f"admin with ?owner=: {admin.status_code}; clinician with ?owner=: {clinician.status_code}"


def _post_by_colleague(p: Probe) -> tuple[bool, str]:
    _, tid = _owned_thread(p)
    got = p.post(p.key(name="colleague"), tid, "and the LDL?")
    return got.status_code == 404, f"POST messages by another key: {got.status_code}"


def _rebind(p: Probe) -> tuple[bool, str]:
    owner, tid = _owned_thread(p)
    intruder = p.admin("intruder")
    rebound = p.ask(intruder, question="latest blood pressure?", thread_id=tid, patient_id=p.other)
    follow = p.ask(owner, question="and the LDL?", thread_id=tid)
    thread = p.thread(owner, tid).json()
    ok = follow.status_code == 200 and follow.json()["patient_id"] == p.mine and len(thread["messages"]) == 2
    return (
        ok,
        f"intruder's ask: {rebound.status_code}; owner's follow-up: {follow.status_code}, {len(thread['messages'])} turns",
    )


def _claim_first(p: Probe) -> tuple[bool, str]:
    name = f"ward5-handover-{time.monotonic_ns()}"
    squat = p.ask(p.admin("squatter"), question="latest blood pressure?", thread_id=name, patient_id=p.other)
    clinician = p.key(name="ward5")
    mine = p.ask(clinician, question="latest blood pressure?", thread_id=name, patient_id=p.mine)
    thread = p.thread(clinician, name)
    ok = mine.status_code == 200 and thread.status_code == 200 and p.other not in json.dumps(thread.json())
    return ok, f"squatter: {squat.status_code}; owner's first use of the id: {mine.status_code}"


def _race(p: Probe) -> tuple[bool, str]:
    scoped, admin = p.key(name="scoped"), p.admin("busy admin")
    tid = f"shared-name-{time.monotonic_ns()}"
    p.ask(scoped, question="What is the latest HbA1c?", thread_id=tid, patient_id=p.mine).raise_for_status()

    def scoped_turn(_: int) -> httpx.Response:
        return p.ask(scoped, question="What are the active problems?", thread_id=tid)

    def admin_turn(_: int) -> httpx.Response:
        return p.ask(admin, question="What are the active problems?", thread_id=tid, patient_id=p.other)

    with ThreadPoolExecutor(6) as pool:
        admins = [pool.submit(admin_turn, i) for i in range(3)]
        replies = list(pool.map(scoped_turn, range(3)))
        [a.result() for a in admins]
    seen = {r.json().get("patient_id") for r in replies if r.status_code == 200}
    leaked = any(p.other in r.text for r in replies)
    ok = all(r.status_code == 200 for r in replies) and seen == {p.mine} and not leaked
    return (
        ok,
        f"scoped turns: {[r.status_code for r in replies]}, patients answered about: {sorted(map(str, seen))}",
    )


def _concurrent_turns(p: Probe) -> tuple[bool, str]:
    key = p.key(name="fast typist")
    tid = p.new_thread(key, p.mine)
    questions = [f"What is the latest HbA1c? ({i})" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda q: p.ask(key, question=q, thread_id=tid), questions))
    kept = [m["question"] for m in p.thread(key, tid).json()["messages"]]
    ok = all(r.status_code == 200 for r in replies) and sorted(kept) == sorted(questions)
    return ok, f"6 concurrent turns: {[r.status_code for r in replies]}, {len(kept)} kept in the thread"


def _request_id_overwrite(p: Probe) -> tuple[bool, str]:
    first, second = p.key(name="first"), p.key(name="second")
    same = {"X-Request-ID": f"chosen-by-the-client-{time.monotonic_ns()}"}
    a = p.ask(first, headers=same, question="Which statin dose is high intensity?").json()
    b = p.ask(second, headers=same, question="Which statin dose is high intensity?").json()
    feedback = httpx.post(f"{p.url}/v1/feedback", json={"answer_id": a["answer_id"], "rating": "up"},
                          headers=_auth(first))  # fmt: skip
    ok = a["answer_id"] != b["answer_id"] and feedback.status_code == 201
    return (
        ok,
        f"answer ids differ: {a['answer_id'] != b['answer_id']}; the first key's feedback: {feedback.status_code}",
    )


def _bad_as_of(p: Probe) -> tuple[bool, str]:
    got = p.ask(p.key(), question="latest LDL?", patient_id=p.mine, as_of="2020-13-45")
    ok = got.status_code == 422 and "as_of" in got.text and "2020-13-45" not in got.text
    return ok, f"as_of 2020-13-45: {got.status_code}"


SERVICE_CASES: tuple[ServiceCase, ...] = (
    ServiceCase("svc-thread-read-colleague", "service_threads", "read another key's thread", _read_by_colleague),
    ServiceCase("svc-thread-read-admin", "service_threads", "an admin reads a thread without naming its owner", _read_by_admin),
    ServiceCase("svc-thread-owner-param", "service_threads", "?owner= by an admin (allowed, audited) and a clinician (403)", _admin_names_owner),
    ServiceCase("svc-thread-post-colleague", "service_threads", "post into another key's thread", _post_by_colleague),
    ServiceCase("svc-thread-rebind", "service_threads", "rebind another key's thread to another patient", _rebind),
    ServiceCase("svc-thread-claim-first", "service_threads", "claim a client-chosen thread id before its user", _claim_first),
    ServiceCase("svc-thread-race", "service_threads", "concurrent writes while a scoped key asks without patient_id", _race),
    ServiceCase("svc-thread-concurrent-turns", "service_threads", "six concurrent turns in one thread", _concurrent_turns),
    ServiceCase("svc-answer-id-overwrite", "service_input", "reuse another key's X-Request-ID as answer id", _request_id_overwrite),
    ServiceCase("svc-as-of-invalid", "service_input", "as_of 2020-13-45", _bad_as_of),
)  # fmt: skip


def run_service_cases(probe: Probe, subset: int | None = None) -> list[dict[str, Any]]:
    """Rows in the red team's shape (``blocked``, ``mode`` "service", ``answer`` = what was observed)."""
    rows = []
    taken: dict[str, int] = {}
    for case in SERVICE_CASES:
        taken[case.category] = taken.get(case.category, 0) + 1
        if subset is not None and taken[case.category] > subset:
            continue
        started = time.perf_counter()
        try:
            blocked, observed = case.probe(probe)
        except (httpx.HTTPError, KeyError, ValueError) as exc:  # a 5xx or a reply without its fields
            blocked, observed = False, f"{type(exc).__name__}: {exc}"
        rows.append({
            "id": case.id, "category": case.category, "mode": "service", "blocked": blocked,
            "false_block": False, "guard_acted": blocked, "failed_checks": [], "flagged": [],
            "leaked": [] if blocked else [observed], "guard_ms": 0.0,
            "total_ms": round((time.perf_counter() - started) * 1000, 1), "answer": f"{case.attack}: {observed}",
        })  # fmt: skip
    return rows
