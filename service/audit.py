"""The audit trail: one hash-chained record per request, append-only, in SQLite or Postgres.

Each record's hash covers its body and the previous record's hash, so editing a record breaks its
own hash and deleting one breaks the chain; a head (``audit.head`` beside ``<data dir>/audit.sqlite``,
or the one-row ``cra_audit_head`` table in Postgres) remembers the last sequence number and hash,
so cutting records off the end is caught too. Appends are serialized across processes (a SQLite
write transaction, a row lock on the Postgres head), so replicas sharing a store never fork the
chain. Triggers refuse UPDATE and DELETE; the chain catches what bypasses them. Records carry ids
and hashes, never text that could hold PHI.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from service.private_files import FILE_MODE, private_file
from service.sqlite_db import open_sqlite, write_transaction

__all__ = [
    "FORBIDDEN_FIELDS",
    "GENESIS",
    "AuditLog",
    "AuditReport",
    "AuditStore",
    "SqliteAuditStore",
    "sha256_text",
]

GENESIS = "0" * 64
# Fields whose values are free text about a patient: an audit record holds their hashes instead.
FORBIDDEN_FIELDS = frozenset(
    {"question", "answer", "text", "correction", "name", "birth_date", "birthDate", "address", "prompt"}
)
# (seq, previous hash) -> (body, hash): what a store calls while it holds the append lock.
Sealer = Callable[[int, str], tuple[str, str]]
Row = tuple[int, str, str, str]  # seq, body, prev, hash


def sha256_text(text: str) -> str:
    """The hex SHA-256 of ``text`` (how questions and answers appear in the audit trail)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _chain(prev: str, body: str) -> str:
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


class AuditStore(Protocol):
    """Where the chain lives; the chain itself is computed by :class:`AuditLog`."""

    where: str

    def append(self, seal: Sealer) -> None:
        """Under a lock that every process shares: read the head, ``seal``, insert, advance the head."""

    def head(self) -> tuple[int, str] | None:
        """The head as committed (never ahead of the committed records); ``None`` when absent."""

    def rows(self) -> Iterator[Row]:
        """Every record, oldest first."""

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class SqliteAuditStore:
    """``audit.sqlite`` plus ``audit.head`` in one folder; ``BEGIN IMMEDIATE`` serializes processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_suffix(".head")
        self.where = f"sqlite {path}"
        self._lock = threading.Lock()
        self._db = open_sqlite(path, _SCHEMA)
        if self.head_path.exists():
            private_file(self.head_path)  # a head written by an older version

    def append(self, seal: Sealer) -> None:
        with self._lock, write_transaction(self._db) as db:  # other processes wait here
            row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            body, digest = seal(seq, prev)
            db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (seq, body, prev, digest))
            self._write_head(seq, digest)

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_suffix(f".head.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"seq": seq, "hash": digest}))
        tmp.replace(self.head_path)

    def head(self) -> tuple[int, str] | None:
        # The head file is written just before its record commits: read it under the write lock so
        # that it is never ahead of what the rows will show.
        with self._lock, write_transaction(self._db):
            try:
                text = self.head_path.read_text()
            except OSError:
                return None
        try:
            head = json.loads(text)
            return int(head["seq"]), str(head["hash"])
        except (ValueError, KeyError, TypeError):
            return None

    def rows(self) -> Iterator[Row]:
        db = sqlite3.connect(self.path, timeout=30)  # its own reader: appends go on meanwhile
        try:
            with self._lock:  # the snapshot starts after this process's append in flight, if any
                cursor = db.execute("SELECT seq, body, prev, hash FROM audit ORDER BY seq")
                first = cursor.fetchone()
            if first is not None:
                yield first
                yield from cursor
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()


@dataclass
class AuditReport:
    """What ``verify`` found: how many records, and every break in the chain."""

    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """Append and verify; safe across threads, processes and replicas sharing one store."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    @property
    def where(self) -> str:
        """The backend and its location (no credentials)."""
        return self.store.where

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (ids, hashes, decisions); ``seq``, ``ts`` and the chain are filled in.

        Raises:
            ValueError: a field named like free text (``question``, ``answer``, ``text``...): hash it
                with :func:`sha256_text` and store it as ``<field>_sha256``.
        """
        bad = sorted(FORBIDDEN_FIELDS.intersection(record))
        if bad:
            raise ValueError(f"audit records carry hashes, not text: store {bad[0]}_sha256 instead")

        def seal(seq: int, prev: str) -> tuple[str, str]:
            body = _canonical({"ts": time.time(), **record, "seq": seq})
            return body, _chain(prev, body)

        self.store.append(seal)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record body, oldest first."""
        for _, body, _, _ in self.store.rows():
            yield json.loads(body)

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record (``(0, GENESIS)`` for an empty log): an anchor to keep elsewhere."""
        return self.store.head() or (0, GENESIS)

    def verify(self, anchors: dict[int, str] | None = None) -> AuditReport:
        """Recompute the chain; report edited, missing, reordered and truncated records.

        The head is read first, so records appended by other replicas while this runs are checked
        too and never mistaken for tampering.

        Args:
            anchors: ``{seq: hash}`` heads copied out of the store earlier (``cra audit head``, shipped
                to a log store). Someone able to bypass the store's protections could rewrite the
                chain consistently from some record on; the hash an anchor remembers would differ.
        """
        anchors = dict(anchors or {})
        report = AuditReport()
        head = self.store.head()
        prev, expected_seq, at_head = GENESIS, 1, None
        for seq, body, stored_prev, digest in self.store.rows():
            report.records += 1
            if seq != expected_seq:
                report.problems.append(f"record {expected_seq} to {seq - 1} missing (deleted)")
            if stored_prev != prev:
                report.problems.append(f"record {seq}: does not follow the record before it")
            try:
                body_seq = json.loads(body).get("seq")
            except json.JSONDecodeError:
                body_seq = None
            if _chain(stored_prev, body) != digest or body_seq != seq:
                report.problems.append(f"record {seq}: content does not match its hash (edited)")
            if head is not None and seq == head[0]:
                at_head = digest
            if seq in anchors and anchors.pop(seq) != digest:
                report.problems.append(
                    f"record {seq}: not the record anchored earlier (the chain was rewritten)"
                )
            prev, expected_seq = digest, seq + 1
        last = expected_seq - 1
        for seq in sorted(s for s in anchors if s > 0):
            report.problems.append(f"record {seq}: anchored earlier but no longer in the log")
        if head is None:
            if report.records:
                report.problems.append(f"the head of the log is missing ({self.where})")
        elif last < head[0]:
            report.problems.append(
                f"the log ends at record {last} but the head says {head[0]} (records cut off the end)"
            )
        elif head[0] > 0 and at_head != head[1]:
            report.problems.append(f"record {head[0]}: does not match the head's hash (replaced)")
        return report

    @classmethod
    def at(cls, data_dir: Path) -> AuditLog:
        """The SQLite store in ``data_dir`` (``audit.sqlite`` and ``audit.head``)."""
        return cls(SqliteAuditStore(data_dir / "audit.sqlite"))

    def close(self) -> None:
        self.store.close()
