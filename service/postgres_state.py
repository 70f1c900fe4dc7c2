"""The Postgres backend of the shared state: audit chain, jti replay memory, rate-limit buckets, API keys.

psycopg is imported here and nowhere else in the service. Each store holds one connection, used
by one thread at a time and reopened after it breaks. Tables are prefixed ``cra_`` so they can sit
in the database LangGraph's checkpointer uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from service.audit import GENESIS, Row, Sealer

if TYPE_CHECKING:
    from service.keys import KeyRow

__all__ = [
    "PostgresAuditStore",
    "PostgresKeyTable",
    "PostgresLeaseStore",
    "PostgresRateStore",
    "PostgresReplayStore",
    "describe",
]

# Creating tables, functions and triggers concurrently (replicas starting together) can fail in
# Postgres even with IF NOT EXISTS: setup runs under one transaction-scoped advisory lock.
_SETUP_LOCK = 0x637261  # "cra"
IDLE_CHECK_S = 5.0  # a connection unused this long is checked before use

_AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS cra_audit (
    seq BIGINT PRIMARY KEY, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cra_audit_head (
    id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO cra_audit_head VALUES (1, 0, '{genesis}') ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION cra_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'cra_audit_head' AND TG_OP = 'UPDATE' AND NEW.seq = OLD.seq + 1 THEN
        RETURN NEW;  -- the head only ever moves forward, one record at a time
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE OR REPLACE TRIGGER cra_audit_no_change BEFORE UPDATE OR DELETE ON cra_audit
    FOR EACH ROW EXECUTE FUNCTION cra_audit_append_only();
CREATE OR REPLACE TRIGGER cra_audit_no_truncate BEFORE TRUNCATE ON cra_audit
    FOR EACH STATEMENT EXECUTE FUNCTION cra_audit_append_only();
CREATE OR REPLACE TRIGGER cra_audit_head_forward BEFORE UPDATE OR DELETE ON cra_audit_head
    FOR EACH ROW EXECUTE FUNCTION cra_audit_append_only();
CREATE OR REPLACE TRIGGER cra_audit_head_no_truncate BEFORE TRUNCATE ON cra_audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION cra_audit_append_only();
"""

_REPLAY_SCHEMA = """
CREATE TABLE IF NOT EXISTS cra_jti_seen (key TEXT PRIMARY KEY, keep_until DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS cra_jti_seen_keep_until ON cra_jti_seen (keep_until);
"""

_RATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cra_rate_buckets (
    caller TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
    granted BOOLEAN NOT NULL);
"""

_LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cra_leases (
    key TEXT PRIMARY KEY, holder TEXT NOT NULL, until DOUBLE PRECISION NOT NULL);
"""

# The columns and their order are SQLite's ``api_keys`` (service.keys), so rows move between them.
_KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS cra_api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, patients TEXT NOT NULL,
    key_hash TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, revoked DOUBLE PRECISION);
"""
_KEY_COLUMNS = "id, name, role, patients, key_hash, created, revoked"

# One statement per request: refill by the time since the last request (the database's clock, so
# replicas' clocks do not matter), take a token when there is one, and say whether it was taken.
_LEVEL = "LEAST(%(burst)s, b.tokens + GREATEST(0, EXCLUDED.updated - b.updated) * %(rate)s)"
_TAKE = f"""
INSERT INTO cra_rate_buckets AS b (caller, tokens, updated, granted)
VALUES (%(caller)s, %(burst)s - 1, extract(epoch FROM clock_timestamp())::float8, true)
ON CONFLICT (caller) DO UPDATE SET
    tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
    granted = {_LEVEL} >= 1,
    updated = GREATEST(b.updated, EXCLUDED.updated)
RETURNING b.tokens, b.granted
"""


def describe(url: str) -> str:
    """``postgres host/db`` for logs and messages: never the password."""
    parsed = urlparse(url)
    return f"postgres {parsed.hostname or 'local socket'}/{parsed.path.lstrip('/') or '-'}"


class _Connection:
    """One psycopg connection for one store: a lock, lazy (re)connection, a transaction per use."""

    def __init__(self, url: str, schema: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            from service.shared_state import StateUnavailableError

            raise StateUnavailableError(
                describe(url), "psycopg is not installed: pip install 'clinical-reasoning-agent[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self.url = url
        self._schema = schema
        self._lock = threading.Lock()
        self._conn: Any = None
        self._last_used = time.monotonic()
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            conn.execute(schema.replace("{genesis}", GENESIS))  # several statements: no parameters

    def _open(self) -> Any:
        # A connection that sat idle may have been cut by a Postgres restart or failover, and
        # psycopg only learns that when a statement fails: check it first (one round trip, only
        # after a quiet spell), so the first request after a restart is not answered with a 500.
        now = time.monotonic()
        if self._conn is not None and not self._conn.closed and now - self._last_used > IDLE_CHECK_S:
            try:
                self._conn.execute("SELECT 1")
            except self._psycopg.Error:
                self._conn.close()
        self._last_used = now
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except self._psycopg.Error as exc:
                from service.shared_state import StateUnavailableError

                raise StateUnavailableError(describe(self.url), type(exc).__name__) from exc
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """The connection inside one transaction, held by this thread until the block ends."""
        with self._lock:
            conn = self._open()
            with conn.transaction():
                yield conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


class _PostgresStore:
    """One store: its connection (schema ensured on opening) and where it lives."""

    schema = ""

    def __init__(self, url: str) -> None:
        self.where = describe(url)
        self._db = _Connection(url, self.schema)

    def close(self) -> None:
        self._db.close()


class PostgresAuditStore(_PostgresStore):
    """``cra_audit`` and its one-row head; ``SELECT ... FOR UPDATE`` on the head serializes appends."""

    schema = _AUDIT_SCHEMA

    def append(self, seal: Sealer) -> None:
        with self._db.transaction() as conn:
            seq, prev = conn.execute(
                "SELECT seq, hash FROM cra_audit_head WHERE id = 1 FOR UPDATE"
            ).fetchone()
            body, digest = seal(seq + 1, prev)
            conn.execute("INSERT INTO cra_audit VALUES (%s, %s, %s, %s)", (seq + 1, body, prev, digest))
            conn.execute("UPDATE cra_audit_head SET seq = %s, hash = %s WHERE id = 1", (seq + 1, digest))

    def head(self) -> tuple[int, str] | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT seq, hash FROM cra_audit_head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def rows(self) -> Iterator[Row]:
        with self._db.transaction() as conn, conn.cursor(name="cra_audit_rows") as cursor:
            cursor.execute("SELECT seq, body, prev, hash FROM cra_audit ORDER BY seq")
            for seq, body, prev, digest in cursor:
                yield int(seq), body, prev, digest


class PostgresReplayStore(_PostgresStore):
    """Seen token ids with the time they may be forgotten; a claim is one upsert."""

    schema = _REPLAY_SCHEMA

    def claim(self, key: str, keep_until: float, now: float) -> bool:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM cra_jti_seen WHERE keep_until < %s", (now,))
            row = conn.execute(
                "INSERT INTO cra_jti_seen AS s VALUES (%s, %s) ON CONFLICT (key) DO UPDATE"
                " SET keep_until = EXCLUDED.keep_until WHERE s.keep_until < %s RETURNING 1",
                (key, keep_until, now),
            ).fetchone()
        return row is not None

    def count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("SELECT count(*) FROM cra_jti_seen").fetchone()[0])


class PostgresRateStore(_PostgresStore):
    """Token buckets in ``cra_rate_buckets``, refilled and taken in one atomic statement."""

    schema = _RATE_SCHEMA

    def take(self, caller: str, rate: float, burst: float) -> float:
        with self._db.transaction() as conn:
            tokens, granted = conn.execute(_TAKE, {"caller": caller, "rate": rate, "burst": burst}).fetchone()
        return 0.0 if granted else (1 - float(tokens)) / rate


class PostgresLeaseStore(_PostgresStore):
    """Leases in ``cra_leases``: taking one is a single conditional upsert."""

    schema = _LEASE_SCHEMA

    def acquire(self, key: str, holder: str, until: float, now: float) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO cra_leases AS l VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE"
                " SET holder = EXCLUDED.holder, until = EXCLUDED.until"
                " WHERE l.until < %s OR l.holder = EXCLUDED.holder RETURNING 1",
                (key, holder, until, now),
            ).fetchone()
        return row is not None

    def release(self, key: str, holder: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM cra_leases WHERE key = %s AND holder = %s", (key, holder))


class PostgresKeyTable(_PostgresStore):
    """API keys (their hashes, never the keys) in ``cra_api_keys``, read on every lookup."""

    schema = _KEYS_SCHEMA

    def insert(self, row: KeyRow) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO cra_api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)", row
            )

    def get(self, key_id: str) -> KeyRow | None:
        with self._db.transaction() as conn:
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM cra_api_keys WHERE id = %s", (key_id,)).fetchone()
        return tuple(row) if row else None

    def rows(self) -> list[KeyRow]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_KEY_COLUMNS} FROM cra_api_keys ORDER BY created").fetchall()
        return [tuple(r) for r in rows]

    def active_count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("SELECT count(*) FROM cra_api_keys WHERE revoked IS NULL").fetchone()[0])

    def revoke(self, key_id: str, when: float) -> tuple[bool, KeyRow | None]:
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE cra_api_keys SET revoked = %s WHERE id = %s AND revoked IS NULL", (when, key_id)
            ).rowcount
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM cra_api_keys WHERE id = %s", (key_id,)).fetchone()
        return changed == 1, tuple(row) if row else None
