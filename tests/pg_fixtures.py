"""A real PostgreSQL 16 for tests (``pgserver`` bundles the binaries): one server per session, a fresh database per test.

Import the fixtures into a test module (``from tests.pg_fixtures import pg_server, pg_url``); tests
that need Postgres skip, with the reason, where pgserver is not installed. ``pg_restartable`` is a
server of the test's own, to stop and start again without disturbing the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

__all__ = ["RestartablePostgres", "backend", "database_url", "pg_restartable", "pg_server", "pg_url"]


def database_url(server_url: str, name: str) -> str:
    """``server_url`` pointed at database ``name`` (same host, socket and user)."""
    return urlparse(server_url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server on a Unix socket in a temporary folder, stopped after the session."""
    pgserver = pytest.importorskip(
        "pgserver", reason="pip install pgserver (in the dev extras) for Postgres tests"
    )
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return database_url(pg_server, name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """``(data_dir, url)`` of one shared store: SQLite files in a data dir, or a fresh Postgres database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    return str(tmp_path / "data"), url


@dataclass
class RestartablePostgres:
    """A PostgreSQL server a test may stop and start again on the same data dir and socket."""

    server: Any  # pgserver.PostgresServer
    url: str

    def stop(self) -> None:
        """Stop it the way an orchestrator does (fast shutdown: sessions are cut off)."""
        from pgserver._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60
        )

    def start(self) -> None:
        """Start it again; the URL does not change."""
        with self.server._lock:  # pgserver starts servers under its inter-process lock
            self.server.ensure_postgres_running()
        assert str(self.server.get_uri()) == self.url, "the restarted server moved its socket"


@pytest.fixture
def pg_restartable(tmp_path: Path) -> Iterator[RestartablePostgres]:
    """A server of this test's own (its ``postgres`` database), stopped and deleted afterwards."""
    pgserver = pytest.importorskip(
        "pgserver", reason="pip install pgserver (in the dev extras) for Postgres tests"
    )
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="delete")
    try:
        yield RestartablePostgres(server, str(server.get_uri()))
    finally:
        server.cleanup()
