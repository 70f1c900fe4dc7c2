"""Where threads persist: LangGraph's SQLite saver under the data dir, or Postgres in production."""

from __future__ import annotations

import sqlite3
from typing import Any

from agent.errors import AgentError
from agent.settings import AgentSettings

__all__ = ["open_checkpointer"]


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
        saver.setup()
        return saver, lambda: manager.__exit__(None, None, None)
    if url:
        raise AgentError(
            f"CRA_CHECKPOINTER_URL {url!r} is not a postgresql:// URL", hint="leave it empty for SQLite"
        )
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(settings.threads_db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver, conn.close
