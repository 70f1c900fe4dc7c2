"""The audit trail: one hash-chained record per request, append-only, in ``<data dir>/audit.sqlite``.

Each record's hash covers its body and the previous record's hash, so editing a record breaks its
own hash and deleting one breaks the chain; ``audit.head`` remembers the last sequence number and
hash, so cutting records off the end is caught too. Triggers refuse UPDATE and DELETE; the chain
catches what bypasses them. Records carry ids and hashes, never text that could hold PHI.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORBIDDEN_FIELDS", "AuditLog", "AuditReport", "sha256_text"]

GENESIS = "0" * 64
# Fields whose values are free text about a patient: an audit record holds their hashes instead.
FORBIDDEN_FIELDS = frozenset(
    {"question", "answer", "text", "correction", "name", "birth_date", "birthDate", "address", "prompt"}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def sha256_text(text: str) -> str:
    """The hex SHA-256 of ``text`` (how questions and answers appear in the audit trail)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _chain(prev: str, body: str) -> str:
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


@dataclass
class AuditReport:
    """What ``verify`` found: how many records, and every break in the chain."""

    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """Append and verify; safe across threads and across processes sharing the data dir."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.head_path = path.with_suffix(".head")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (ids, hashes, decisions); ``seq``, ``ts`` and the chain are filled in.

        Raises:
            ValueError: a field named like free text (``question``, ``answer``, ``text``...): hash it
                with :func:`sha256_text` and store it as ``<field>_sha256``.
        """
        bad = sorted(FORBIDDEN_FIELDS.intersection(record))
        if bad:
            raise ValueError(f"audit records carry hashes, not text: store {bad[0]}_sha256 instead")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # serialises appenders in other processes too
            try:
                row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                body = _canonical({"ts": time.time(), **record, "seq": seq})
                digest = _chain(prev, body)
                self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (seq, body, prev, digest))
                self._write_head(seq, digest)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_suffix(f".head.{os.getpid()}")
        tmp.write_text(json.dumps({"seq": seq, "hash": digest}))
        tmp.replace(self.head_path)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record body, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM audit ORDER BY seq").fetchall()
        for (body,) in rows:
            yield json.loads(body)

    def verify(self) -> AuditReport:
        """Recompute the chain; report edited, missing, reordered and truncated records."""
        report = AuditReport()
        with self._lock:
            rows = self._db.execute("SELECT seq, body, prev, hash FROM audit ORDER BY seq").fetchall()
        prev, expected_seq = GENESIS, 1
        for seq, body, stored_prev, digest in rows:
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
            prev, expected_seq = digest, seq + 1
        head = self._read_head()
        if head is None:
            if rows:
                report.problems.append(f"{self.head_path.name} is missing")
        elif head["seq"] != expected_seq - 1 or head["hash"] != prev:
            report.problems.append(
                f"the log ends at record {expected_seq - 1} but the head says {head['seq']} (records cut off the end)"
            )
        return report

    def _read_head(self) -> dict[str, Any] | None:
        try:
            head = json.loads(self.head_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return head if isinstance(head, dict) and {"seq", "hash"} <= head.keys() else None

    @classmethod
    def at(cls, data_dir: Path) -> AuditLog:
        """The deployment's store in ``data_dir`` (``audit.sqlite``)."""
        return cls(data_dir / "audit.sqlite")

    def close(self) -> None:
        self._db.close()
