"""Where threads persist: LangGraph's SQLite saver under the data dir, or Postgres in production."""

from __future__ import annotations

import sqlite3
import time
from typing import Any
from urllib.parse import urlparse

from agent.errors import AgentError
from agent.settings import AgentSettings

__all__ = ["forget_patient_threads", "open_checkpointer"]

_SETUP_LOCK = 0x6372616C67  # "cralg": LangGraph's checkpoint schema
# The saver serializes its own use of the pool (one connection at a time); the second connection
# holds the migration lock while setup() runs on the first.
_POOL_SIZE = 2


def open_checkpointer(settings: AgentSettings) -> tuple[Any, Any]:
    """``(saver, closer)``: the configured checkpointer and a callable that releases it."""
    url = settings.checkpointer_url
    if url.startswith(("postgres://", "postgresql://")):
        return _postgres(url)
    if url:
        raise AgentError(
            f"CRA_CHECKPOINTER_URL {url!r} is not a postgresql:// URL", hint="leave it empty for SQLite"
        )
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(settings.threads_db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    sqlite_saver = SqliteSaver(conn)
    sqlite_saver.setup()
    return sqlite_saver, conn.close


def _postgres(url: str) -> tuple[Any, Any]:
    """A ``PostgresSaver`` over a small pool that checks each connection before lending it.

    A connection that broke (Postgres restarted, a failover, an idle timeout in between) is dropped
    and replaced, so threads continue once the server is back instead of failing until a restart.
    """
    try:
        from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found,unused-ignore]
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout
    except ImportError as exc:
        raise AgentError(
            "CRA_CHECKPOINTER_URL points at Postgres but langgraph-checkpoint-postgres is not installed",
            hint="pip install 'clinical-reasoning-agent[postgres]'",
        ) from exc
    # what PostgresSaver.from_conn_string gives its one connection: no transactions held open
    # between calls, no server-side prepared statements (poolers), rows as dicts
    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    pool: Any = ConnectionPool(
        url,
        min_size=1,
        max_size=_POOL_SIZE,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,
        name="cra-checkpoints",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=30)
    except PoolTimeout as exc:
        pool.close()
        where = f"{urlparse(url).hostname or 'local socket'}/{urlparse(url).path.lstrip('/')}"  # no password
        raise AgentError(
            f"the Postgres checkpointer at {where} did not accept a connection in 30 s",
            hint="check CRA_CHECKPOINTER_URL and that Postgres is up",
        ) from exc
    saver = PostgresSaver(pool)
    try:
        _migrate(saver, pool)
    except BaseException:
        pool.close()
        raise
    return saver, pool.close


def _migrate(saver: Any, pool: Any) -> None:
    """LangGraph's migrations, one process at a time.

    Replicas starting together would run them at once and collide on checkpoint_migrations: one at a
    time, under a session-level advisory lock. The others poll instead of blocking: a blocked lock
    call is an open transaction, and the migrations' CREATE INDEX CONCURRENTLY waits for every open
    transaction (a deadlock).
    """
    with pool.connection() as conn:  # held until unlocked: the lock belongs to this session
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_SETUP_LOCK,)).fetchone()["got"]:
            time.sleep(0.1)
        try:
            saver.setup()  # on the pool's other connection
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))


def forget_patient_threads(saver: Any, patient_id: str) -> int:
    """Delete every thread about ``patient_id`` from ``saver`` (right to erasure); returns how many.

    A thread is about one patient for its whole life, so any checkpoint naming the patient marks
    the whole thread. Every checkpoint is read once: erasure is rare, and no index of threads by
    patient exists that could miss one written by the CLI, the API or an older version.
    """
    doomed: set[str] = set()
    for item in saver.list(None):
        thread_id = str(item.config["configurable"]["thread_id"])
        if (
            thread_id not in doomed
            and item.checkpoint.get("channel_values", {}).get("patient_id") == patient_id
        ):
            doomed.add(thread_id)
    for thread_id in sorted(doomed):
        saver.delete_thread(thread_id)
    return len(doomed)
