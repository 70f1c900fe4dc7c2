"""Where threads persist: LangGraph's SQLite saver under the data dir, or Postgres in production."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from agent.errors import AgentError
from agent.settings import AgentSettings

__all__ = ["open_checkpointer"]

_SETUP_LOCK = 0x6372616C67  # "cralg": LangGraph's checkpoint schema


def open_checkpointer(settings: AgentSettings) -> tuple[Any, Any]:
    """``(saver, closer)``: the configured checkpointer and a callable that releases it."""
    url = settings.checkpointer_url
    if url.startswith(("postgres://", "postgresql://")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise AgentError(
                "CRA_CHECKPOINTER_URL points at Postgres but langgraph-checkpoint-postgres is not installed",
                hint="pip install langgraph-checkpoint-postgres 'psycopg[binary]'",
            ) from exc
        manager = PostgresSaver.from_conn_string(url)
        saver = manager.__enter__()
        # Replicas starting together would run LangGraph's migrations at once and collide on
        # checkpoint_migrations: one at a time, under a session-level advisory lock. The others poll
        # instead of blocking: a blocked lock call is an open transaction, and the migrations'
        # CREATE INDEX CONCURRENTLY waits for every open transaction (a deadlock).
        conn: Any = saver.conn  # from_conn_string gives one connection (dict rows), not a pool
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_SETUP_LOCK,)).fetchone()["got"]:
            time.sleep(0.1)
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        return saver, lambda: manager.__exit__(None, None, None)
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
