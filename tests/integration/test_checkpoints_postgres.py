"""LangGraph's Postgres checkpointer on a real Postgres: a thread one agent writes, another agent reads,
and a thread that goes on through the same agent after Postgres restarted under it.

The world is small on purpose (the demo protocol and one Synthea patient): the embedding model is the
slow part here.
"""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.checkpoints import open_checkpointer
from agent.errors import ThreadError
from agent.factory import make_agent
from agent.runner import Agent
from agent.settings import AgentSettings
from guidelines_index.indexer import GuidelineIndexer
from patient_index.indexer import PatientIndexer
from retrieval.edge_store import EdgeStore
from retrieval.guidelines import GuidelineSearch
from retrieval.patients import PatientSearch
from tests.pg_fixtures import RestartablePostgres, pg_restartable, pg_server, pg_url

__all__ = ["pg_restartable", "pg_server", "pg_url"]  # the Postgres fixtures, used by name below

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _setup_in_child(url: str, start: Any) -> None:
    start.wait()
    _saver, close = open_checkpointer(AgentSettings(checkpointer_url=url, _env_file=None))  # type: ignore[call-arg]
    close()


def test_replicas_starting_together_set_up_the_schema_once(pg_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(3)
    procs = [spawn.Process(target=_setup_in_child, args=(pg_url, start)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]


def _small_world(
    tmp_path: Path, shared_data: Path, dense_encoder: Any, sparse_encoder: Any
) -> tuple[EdgeStore, GuidelineSearch, PatientSearch, str]:
    """The demo protocol and one Synthea patient, indexed: ``(store, guidelines, patients, patient id)``."""
    store = EdgeStore(tmp_path / "qdrant")
    GuidelineIndexer(store, dense_encoder, sparse_encoder, collection="guidelines").index(
        [str(ROOT / "examples" / "guidelines")]
    )
    fhir = tmp_path / "fhir"
    fhir.mkdir()
    shutil.copy(sorted((shared_data / "synthea-r4").glob("*.json"))[0], fhir)
    PatientIndexer(store, dense_encoder, sparse_encoder, collection="patients").index([str(fhir)])
    pid = next(p["patient_id"] for _, p in store.scroll("patients", None, fields=["patient_id"]))
    guidelines = GuidelineSearch(store, dense_encoder, sparse_encoder, collection="guidelines")
    patients = PatientSearch(store, dense_encoder, sparse_encoder, collection="patients")
    return store, guidelines, patients, pid


def _agent(
    settings: AgentSettings, guidelines: GuidelineSearch, patients: PatientSearch, encoder: Any
) -> tuple[Agent, Any, Any]:
    """``(agent, saver, close)``: an agent over its own Postgres checkpointer, as one API replica has."""
    saver, close = open_checkpointer(settings)
    agent = make_agent(
        settings,
        guidelines=guidelines,
        patients=patients,
        encoder=encoder,
        checkpointer=saver,
        basic_guards=True,
    )
    return agent, saver, close


def test_a_thread_written_by_one_agent_is_continued_by_another(
    pg_url: str, tmp_path: Path, shared_data: Path, dense_encoder: Any, sparse_encoder: Any
) -> None:
    store, guidelines, patients, pid = _small_world(tmp_path, shared_data, dense_encoder, sparse_encoder)
    settings = AgentSettings(data_dir=tmp_path, checkpointer_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    closers = []

    def replica() -> Agent:
        agent, _saver, close = _agent(settings, guidelines, patients, dense_encoder)
        closers.append(close)
        return agent

    try:
        first = replica().ask("What was the latest blood pressure?", patient_id=pid, thread_id="ward-3")
        other = replica()
        state = other.graph.get_state({"configurable": {"thread_id": "ward-3"}}).values
        assert state["patient_id"] == pid
        assert [t["question"] for t in state["history"]] == ["What was the latest blood pressure?"]
        follow = other.ask("and how has it changed?", thread_id="ward-3")
        assert follow["patient_id"] == pid == first["patient_id"]
        with pytest.raises(ThreadError, match="another patient"):
            other.ask("and her kidneys?", patient_id="someone-else", thread_id="ward-3")
        assert not (tmp_path / "threads.sqlite").exists()  # nothing went to the SQLite default
    finally:
        for close in closers:
            close()
        store.close()


def test_a_thread_goes_on_through_the_same_agent_after_postgres_restarts(
    pg_restartable: RestartablePostgres,
    tmp_path: Path,
    shared_data: Path,
    dense_encoder: Any,
    sparse_encoder: Any,
) -> None:
    import psycopg

    store, guidelines, patients, pid = _small_world(tmp_path, shared_data, dense_encoder, sparse_encoder)
    settings = AgentSettings(data_dir=tmp_path, checkpointer_url=pg_restartable.url, _env_file=None)  # type: ignore[call-arg]
    agent, saver, close = _agent(settings, guidelines, patients, dense_encoder)
    config = {"configurable": {"thread_id": "ward-5"}}
    try:
        agent.ask("What was the latest blood pressure?", patient_id=pid, thread_id="ward-5")
        pg_restartable.stop()
        with pytest.raises(psycopg.OperationalError):  # really down: every session it had is gone
            psycopg.connect(pg_restartable.url, connect_timeout=2).close()
        pg_restartable.start()
        follow = agent.ask("and how has it changed?", thread_id="ward-5")
        assert follow["patient_id"] == pid
        state = agent.graph.get_state(config).values
        assert [t["question"] for t in state["history"]] == [
            "What was the latest blood pressure?",
            "and how has it changed?",
        ]
        assert len(list(saver.list(config))) == 2  # one checkpoint per turn, read back from Postgres
    finally:
        close()
        store.close()
