"""State that every API process must agree on: the audit chain, seen CDS Hooks ``jti`` values, rate
buckets, and the leases that let one turn of a conversation thread run at a time.

One setting picks where it lives (``CRA_STATE_URL``):

- empty: Postgres when ``CRA_CHECKPOINTER_URL`` is a ``postgresql://`` URL (replicas already share
  it), else SQLite files in the data dir;
- ``sqlite``: SQLite files in the data dir (``audit.sqlite`` + ``audit.head``, ``state.sqlite``),
  shared by the processes of one host (``cra serve --workers N``), never across hosts;
- ``postgresql://...``: Postgres (:mod:`service.postgres_state`), shared by every replica.

Nothing here is PHI: key ids, hashed token ids, and audit records that carry ids and hashes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.audit import AuditLog
from service.sqlite_db import open_sqlite, write_transaction

__all__ = [
    "LeaseStore",
    "MemoryLeaseStore",
    "MemoryRateStore",
    "MemoryReplayStore",
    "RateStore",
    "ReplayStore",
    "SharedState",
    "SqliteLeaseStore",
    "SqliteRateStore",
    "SqliteReplayStore",
    "StateSettings",
    "StateUnavailableError",
    "open_shared_state",
]

_POSTGRES = ("postgres://", "postgresql://")


class StateUnavailableError(RuntimeError):
    """The shared store cannot be used; ``where`` names it without credentials."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"shared state at {where} is unavailable: {reason}")
        self.where = where
        self.reason = reason


class StateSettings(BaseSettings):
    """``CRA_STATE_URL``: where the replicas' shared state lives."""

    model_config = SettingsConfigDict(env_prefix="CRA_", env_file=".env", extra="ignore")

    state_url: str = Field(
        default="",
        description=(
            "Empty: follow CRA_CHECKPOINTER_URL when it is Postgres, else SQLite in the data dir; "
            "'sqlite': SQLite in the data dir (one host); postgresql://...: Postgres (every replica)."
        ),
    )

    @field_validator("state_url")
    @classmethod
    def _known(cls, value: str) -> str:
        value = value.strip()
        if value not in ("", "sqlite") and not value.startswith(_POSTGRES):
            raise ValueError("CRA_STATE_URL must be empty, 'sqlite' or a postgresql:// URL")
        return value

    def target(self, checkpointer_url: str = "") -> str:
        """The Postgres URL to use, or ``""`` for SQLite in the data dir."""
        if self.state_url == "sqlite":
            return ""
        if self.state_url:
            return self.state_url
        return checkpointer_url if checkpointer_url.startswith(_POSTGRES) else ""


class ReplayStore(Protocol):
    """Insert-if-absent with expiry: the memory that refuses a token id seen before."""

    def claim(self, key: str, keep_until: float, now: float) -> bool:
        """True the first time ``key`` is seen (or after its ``keep_until`` passed); rows older than ``now`` go."""

    def close(self) -> None: ...


class RateStore(Protocol):
    """Token buckets per caller."""

    def take(self, caller: str, rate: float, burst: float) -> float:
        """0 when a token was taken; otherwise the seconds until one will be there."""

    def close(self) -> None: ...


class LeaseStore(Protocol):
    """Named leases with expiry: one holder at a time, released by that holder or by time."""

    def acquire(self, key: str, holder: str, until: float, now: float) -> bool:
        """True when ``holder`` now holds ``key`` (it was free, or its lease ended before ``now``)."""

    def release(self, key: str, holder: str) -> None:
        """Give ``key`` back if ``holder`` still holds it."""

    def close(self) -> None: ...


class MemoryLeaseStore:
    """Leases in one process's memory: right for a single process, wrong for replicas."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, holder: str, until: float, now: float) -> bool:
        with self._lock:
            current = self._held.get(key)
            if current is not None and current[1] >= now and current[0] != holder:
                return False
            self._held[key] = (holder, until)
            return True

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            if self._held.get(key, ("", 0.0))[0] == holder:
                del self._held[key]

    def close(self) -> None:
        pass


class MemoryReplayStore:
    """One process's memory: right for a single process, wrong for replicas."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def claim(self, key: str, keep_until: float, now: float) -> bool:
        with self._lock:
            if now >= self._next_purge:  # a sweep a second, not one per token: at 100 tokens/s the
                self._next_purge = now + 1.0  # table holds thousands of ids
                for old in [k for k, until in self._seen.items() if until < now]:
                    del self._seen[old]
            elif self._seen.get(key, now) < now:  # expired but not swept yet: free again
                del self._seen[key]
            if key in self._seen:
                return False
            self._seen[key] = keep_until
            return True

    def close(self) -> None:
        pass


class MemoryRateStore:
    """Token buckets in one process's memory (monotonic clock)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, caller: str, rate: float, burst: float) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1 - tokens) / rate

    def close(self) -> None:
        pass


_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS jti_seen (key TEXT PRIMARY KEY, keep_until REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jti_seen_keep_until ON jti_seen (keep_until);
CREATE TABLE IF NOT EXISTS rate_buckets (
    caller TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL, granted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL);
"""


class _SqliteState:
    """``state.sqlite``: WAL, a busy timeout for other processes, one statement or transaction per call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_sqlite(path, _STATE_SCHEMA, fsync_each_commit=False)  # buckets, token ids

    def close(self) -> None:
        self._db.close()


class SqliteReplayStore(_SqliteState):
    """Seen token ids in ``<data dir>/state.sqlite``."""

    def claim(self, key: str, keep_until: float, now: float) -> bool:
        with self._lock, write_transaction(self._db) as db:
            db.execute("DELETE FROM jti_seen WHERE keep_until < ?", (now,))
            taken = db.execute(
                "INSERT INTO jti_seen VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET keep_until = excluded.keep_until WHERE jti_seen.keep_until < ?",
                (key, keep_until, now),
            ).rowcount
        return taken == 1

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM jti_seen").fetchone()[0])


_LEVEL = "MIN(:burst, rate_buckets.tokens + MAX(0, excluded.updated - rate_buckets.updated) * :rate)"
_TAKE = f"""
INSERT INTO rate_buckets (caller, tokens, updated, granted) VALUES (:caller, :burst - 1, :now, 1)
ON CONFLICT (caller) DO UPDATE SET
    tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
    granted = {_LEVEL} >= 1,
    updated = MAX(rate_buckets.updated, excluded.updated)
RETURNING tokens, granted
"""


class SqliteRateStore(_SqliteState):
    """Token buckets in ``<data dir>/state.sqlite``, refilled and taken in one atomic statement."""

    def take(self, caller: str, rate: float, burst: float) -> float:
        params = {"caller": caller, "rate": rate, "burst": burst, "now": time.time()}
        with self._lock:
            tokens, granted = self._db.execute(_TAKE, params).fetchone()
        return 0.0 if granted else (1 - float(tokens)) / rate


class SqliteLeaseStore(_SqliteState):
    """Leases in ``<data dir>/state.sqlite``: taking one is a single conditional upsert."""

    def acquire(self, key: str, holder: str, until: float, now: float) -> bool:
        with self._lock:
            taken = self._db.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET holder = excluded.holder, until = excluded.until"
                " WHERE leases.until < ? OR leases.holder = excluded.holder",
                (key, holder, until, now),
            ).rowcount
        return taken == 1

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM leases WHERE key = ? AND holder = ?", (key, holder))


@dataclass
class SharedState:
    """The shared stores of one process, and where they live."""

    audit: AuditLog
    replay: ReplayStore
    rates: RateStore
    where: str
    leases: LeaseStore = field(default_factory=MemoryLeaseStore)

    def close(self) -> None:
        for store in (self.audit, self.replay, self.rates, self.leases):
            store.close()


def open_shared_state(data_dir: Path, url: str = "") -> SharedState:
    """The stores at ``url`` (Postgres) or, when it is empty, in ``data_dir`` (SQLite).

    Raises:
        StateUnavailableError: Postgres is unreachable or psycopg is not installed.
    """
    if url.startswith(_POSTGRES):
        from service.postgres_state import (
            PostgresAuditStore,
            PostgresLeaseStore,
            PostgresRateStore,
            PostgresReplayStore,
            describe,
        )

        audit = AuditLog(PostgresAuditStore(url))
        return SharedState(
            audit, PostgresReplayStore(url), PostgresRateStore(url), describe(url), PostgresLeaseStore(url)
        )
    if url:
        raise StateUnavailableError(url.split("://")[0], "not a postgresql:// URL")
    return SharedState(
        AuditLog.at(data_dir),
        SqliteReplayStore(data_dir / "state.sqlite"),
        SqliteRateStore(data_dir / "state.sqlite"),
        f"sqlite {data_dir}",
        SqliteLeaseStore(data_dir / "state.sqlite"),
    )
