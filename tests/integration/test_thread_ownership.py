"""Threads belong to the key that made them, one turn of a thread runs at a time, answer ids are the server's.

The cases are the safety suite's service attacks (:mod:`evals.safety.service`), run here against a
real uvicorn on loopback over the real store and agent (evidence mode). Each failed before threads
were tied to their key: another key could read, post into and rebind a thread, claim a
client-chosen id first, two concurrent turns lost one of them, and a client's X-Request-ID became
the answer id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from evals.safety.service import SERVICE_CASES, Probe, ServiceCase
from tests.agent_world import World
from tests.service_server import LiveServer, live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Probe]]:
    deps = world_deps(world, tmp_path_factory.mktemp("threads"))
    with live_server(deps, api_rate_per_minute=6000, api_rate_burst=500) as live:
        yield live, Probe(live.url, live.key, world.patient_ids[0], world.patient_ids[1])


@pytest.mark.parametrize("case", SERVICE_CASES, ids=[c.id for c in SERVICE_CASES])
def test_the_service_contains_the_attack(served: tuple[LiveServer, Probe], case: ServiceCase) -> None:
    contained, observed = case.probe(served[1])
    assert contained, observed


def test_an_admin_reading_another_keys_thread_is_audited(served: tuple[LiveServer, Probe]) -> None:
    live, probe = served
    owner = probe.key(name="owner")
    tid = probe.new_thread(owner, probe.mine)
    owner_id = owner.split("_")[1]
    assert probe.thread(probe.admin("auditor"), tid, owner=owner_id).status_code == 200
    deadline = time.monotonic() + 10  # the record is appended when the response has ended
    while not (
        found := [r for r in live.app.state.audit.records() if r.get("admin_thread_owner") == owner_id]
    ):
        assert time.monotonic() < deadline, "no audit record names the thread's owner"
        time.sleep(0.05)
    assert found[-1]["thread_id"] == tid and found[-1]["status"] == 200
